/*
 * Page tables for the paging checks: an identity map of the first 1 GiB with large pages
 * (4 MiB in 32-bit paging, 2 MiB otherwise), plus the test window at 1 GiB mapped with 4 KiB
 * pages through a page table of its own. SDM Vol. 3 §4.3 (32-bit paging), §4.4 (PAE paging),
 * §4.5 (4-level and 5-level paging).
 */
#include "guest.h"

u8 window_frames[WINDOW_PAGES][4096] ALIGNED(4096);
static u64 pml5[512] ALIGNED(4096);
static u64 pml4[512] ALIGNED(4096);
static u64 pdpt[512] ALIGNED(4096);
static u64 pd_id[512] ALIGNED(4096);
static u64 pd_win[512] ALIGNED(4096);
static u64 pt_win[512] ALIGNED(4096);
static u32 pd32[1024] ALIGNED(4096);
static u32 pt32[1024] ALIGNED(4096);
static u64 pdpt_pae[4] ALIGNED(32);
static enum paging_mode mode;

#define PWU (PTE_P | PTE_W | PTE_U)

ulong paging_build(enum paging_mode m) {
  mode = m;
  memset(pml5, 0, sizeof pml5);
  memset(pml4, 0, sizeof pml4);
  memset(pdpt, 0, sizeof pdpt);
  memset(pd_id, 0, sizeof pd_id);
  memset(pd_win, 0, sizeof pd_win);
  memset(pt_win, 0, sizeof pt_win);
  memset(pd32, 0, sizeof pd32);
  memset(pt32, 0, sizeof pt32);
  memset(pdpt_pae, 0, sizeof pdpt_pae);
  if (m == PG_32) {
    for (u32 i = 0; i < 256; i++) pd32[i] = (i << 22) | (u32)(PWU | PTE_PS);
    pd32[WINDOW_BASE >> 22] = (u32)(ulong)pt32 | (u32)PWU;
    return (ulong)pd32;
  }
  for (u64 i = 0; i < 512; i++) pd_id[i] = (i << 21) | PWU | PTE_PS;
  pd_win[0] = (ulong)pt_win | PWU;
  if (m == PG_PAE) {
    /* PDPTEs have no R/W or U/S bits (SDM §4.4.1): only P, PWT, PCD. */
    pdpt_pae[0] = (ulong)pd_id | PTE_P;
    pdpt_pae[1] = (ulong)pd_win | PTE_P;
    return (ulong)pdpt_pae;
  }
  pdpt[0] = (ulong)pd_id | PWU;
  pdpt[1] = (ulong)pd_win | PWU;
  pml4[0] = (ulong)pdpt | PWU;
  pml4[1] = (ulong)pdpt | PWU; /* the level-4 alias: 512 GiB + WINDOW_BASE */
  if (m == PG_5L) {
    pml5[0] = (ulong)pml4 | PWU;
    pml5[1] = (ulong)pml4 | PWU; /* the level-5 alias: 256 TiB + WINDOW_BASE */
    return (ulong)pml5;
  }
  return (ulong)pml4;
}

void paging_flush(void) { write_cr3(read_cr3()); }

void window_set(int i, u64 pte) {
  if (mode == PG_32) pt32[i] = (u32)pte;
  else pt_win[i] = pte;
  invlpg(WINDOW_BASE + (ulong)i * 4096);
}

u64 window_get(int i) { return mode == PG_32 ? pt32[i] : pt_win[i]; }

ulong window_phys(int i) { return (ulong)window_frames[i]; }

void window_pde_set(u64 set, u64 clear) {
  if (mode == PG_32) pd32[WINDOW_BASE >> 22] = (u32)((pd32[WINDOW_BASE >> 22] | set) & ~clear);
  else pd_win[0] = (pd_win[0] | set) & ~clear;
  paging_flush();
}

u64 window_pde_get(void) { return mode == PG_32 ? pd32[WINDOW_BASE >> 22] : pd_win[0]; }

void identity_user(int user) {
  if (mode == PG_32) {
    for (int i = 0; i < 256; i++) pd32[i] = user ? pd32[i] | (u32)PTE_U : pd32[i] & ~(u32)PTE_U;
  } else {
    for (int i = 0; i < 512; i++) pd_id[i] = user ? pd_id[i] | PTE_U : pd_id[i] & ~PTE_U;
  }
  paging_flush();
}

u64 *paging_entry(int level) {
  switch (level) {
    case 1: return &pt_win[0];
    case 2: return &pd_win[0];
    case 3: return mode == PG_PAE ? &pdpt_pae[1] : &pdpt[1];
    case 4: return &pml4[1];
    default: return &pml5[1];
  }
}

ulong paging_alias(int level) {
#ifdef __x86_64__
  if (level == 4) return WINDOW_BASE + (1ul << 39);
  if (level == 5) return WINDOW_BASE + (1ul << 48);
#endif
  (void)level;
  return WINDOW_BASE;
}

u32 *paging_pde32(int index) { return &pd32[index]; }
