/* @guest bits=64 cpu=max,+vmx timeout=120 -- pnpm bench's VM-exit round trip: a guest runs CPUID in a loop; the host advances RIP and re-enters */
/*
 * The `vmexit` workload of pnpm bench (tooling/bench/src/vmexit.ts): a bare-metal hypervisor
 * whose guest executes CPUID in a loop. CPUID exits unconditionally in VMX non-root operation
 * (SDM Vol. 3C §25.1.2), so every iteration is one world switch each way: VM exit (ch. 27),
 * the host reads the exit reason, the guest RIP and the VM-exit instruction length, writes
 * RIP + length back (§27.2.5: CPUID's exit is fault-like, RIP is the CPUID's own) and executes
 * VMRESUME (VM entry, ch. 26). The round trip is written in assembly so that the host does only
 * that: three VMREADs, one VMWRITE, VMRESUME.
 *
 * Two timed phases, between `# mark` lines the bench timestamps on COM1:
 * - `native`: the guest loop body (INC, MOV, CPUID) run ROUND_TRIPS times without VMX (the
 *   guest-loop cost, which the bench subtracts);
 * - `vmexit`: ROUND_TRIPS round trips;
 * - `vmexit-vpid`: the same with "enable VPID" (VPID 1), where the CPU allows it.
 * The host folds the guest's CPUID leaf (RAX, shared by guest and host: VMX does not switch
 * general registers, §27.1) into a checksum at each exit; it must equal the value computed in C.
 * Without VMX (QEMU TCG, hvkit without +vmx) the program reports SKIP and passes.
 */
#include "guest.h"
#include "guest64.h"
#include "vmx.h"

const char test_name[] = "vmxbench";

#define ROUND_TRIPS 100000
/*
 * Untimed round trips (and native loops) first: the timed phases measure the steady-state cost,
 * not an emulator's warm-up (a JIT-compiling emulator reaches its steady state after some
 * thousands of round trips; an interpreter such as Bochs has none, so it is unaffected).
 */
#define WARMUP_ROUND_TRIPS 30000

/* Set by the assembly on an unexpected exit (its full exit reason) or a VMfail (the outcome flags). */
u64 vmxbench_bad_reason, vmxbench_bad_flags;
u64 vmxbench_roundtrips(u64 n);
void vmxbench_native(u64 n);
extern char vmxbench_guest[];

/*
 * vmxbench_roundtrips(n): HOST_RSP/HOST_RIP to here, VMLAUNCH, then per exit: check reason 10
 * (CPUID), GUEST_RIP += VM-exit instruction length, checksum = checksum * 31 + guest RAX,
 * VMRESUME, n times. Returns the checksum, or 0 with vmxbench_bad_* set. The host keeps its
 * state in RBX, RCX, RDX, R12-R15; the guest owns RAX and RSI.
 */
__asm__(
    ".text\n"
    ".globl vmxbench_roundtrips\n"
    "vmxbench_roundtrips:\n"
    "  push %rbx\n  push %rbp\n  push %r12\n  push %r13\n  push %r14\n  push %r15\n"
    "  mov %rdi, %r12\n"          /* round trips left */
    "  xor %r13d, %r13d\n"        /* checksum */
    "  mov $0x6c14, %r14d\n"      /* HOST_RSP */
    "  vmwrite %rsp, %r14\n"
    "  jbe 9f\n"
    "  lea 1f(%rip), %rdx\n"
    "  mov $0x6c16, %r14d\n"      /* HOST_RIP */
    "  vmwrite %rdx, %r14\n"
    "  jbe 9f\n"
    "  xor %esi, %esi\n"          /* the guest's counter */
    "  vmlaunch\n"
    "  jmp 9f\n"
    "1:\n"                         /* VM exit: host RSP/RIP from the host-state area */
    "  mov $0x4402, %r14d\n"      /* VM_EXIT_REASON */
    "  vmread %r14, %rbx\n"
    "  cmp $10, %ebx\n"
    "  jne 8f\n"
    "  mov $0x681e, %r14d\n"      /* GUEST_RIP */
    "  vmread %r14, %rcx\n"
    "  mov $0x440c, %r14d\n"      /* VM_EXIT_INSTRUCTION_LEN */
    "  vmread %r14, %rdx\n"
    "  add %rdx, %rcx\n"
    "  mov $0x681e, %r14d\n"
    "  vmwrite %rcx, %r14\n"
    "  imul $31, %r13, %r13\n"
    "  add %rax, %r13\n"
    "  dec %r12\n"
    "  jz 7f\n"
    "  vmresume\n"
    "  jmp 9f\n"
    "7:\n"
    "  mov %r13, %rax\n"
    "  jmp 6f\n"
    "8:\n"
    "  mov %rbx, vmxbench_bad_reason(%rip)\n"
    "  xor %eax, %eax\n"
    "  jmp 6f\n"
    "9:\n"                         /* VMfailInvalid / VMfailValid: keep RFLAGS */
    "  pushf\n  pop %rax\n"
    "  mov %rax, vmxbench_bad_flags(%rip)\n"
    "  xor %eax, %eax\n"
    "6:\n"
    "  pop %r15\n  pop %r14\n  pop %r13\n  pop %r12\n  pop %rbp\n  pop %rbx\n"
    "  ret\n"
    /* The guest: count in ESI, ask for leaf ESI, exit. */
    ".globl vmxbench_guest\n"
    "vmxbench_guest:\n"
    "  inc %esi\n"
    "  mov %esi, %eax\n"
    "  cpuid\n"
    "  jmp vmxbench_guest\n"
    /* The same loop body without VMX (CPUID executes), n times: the guest-loop cost. */
    ".globl vmxbench_native\n"
    "vmxbench_native:\n"
    "  push %rbx\n"
    "  xor %esi, %esi\n"
    "2:\n"
    "  inc %esi\n"
    "  mov %esi, %eax\n"
    "  cpuid\n"
    "  dec %rdi\n"
    "  jnz 2b\n"
    "  pop %rbx\n"
    "  ret\n");

/*
 * The same round trips with "enable VPID" (secondary control, VPID 1), the configuration of a
 * real hypervisor (KVM enables VPID where the CPU has it): without VPID every VM entry and VM
 * exit invalidates the cached linear mappings (SDM Vol. 3C §28.3.3.1 "Operations that Invalidate
 * Cached Mappings"), with it the guest's and the host's cached
 * translations survive the world switches (§28.1 "Virtual Processor Identifiers (VPIDs)").
 * Timed between `# mark vmexit-vpid-start` and `vmexit-vpid-end`; the checksum is the same.
 */
static void vmxbench_vpid(u64 want, u64 want_warmup) {
  if (!HAS_PROC2(CPU2_VPID)) {
    info("vmxbench vpid: not run (the CPU does not allow enable VPID)");
    return;
  }
  if (!check_eq("VMCLEAR before the VPID round trips", (u64)(s64)vmclear(pa(vmcs_pages[0])), VMX_OK)) return;
  if (!check_eq("VMPTRLD before the VPID round trips", (u64)(s64)vmptrld(pa(vmcs_pages[0])), VMX_OK)) return;
  vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_SECONDARY);
  vmcs_set_bits(SECONDARY_VM_EXEC_CONTROL, CPU2_VPID);
  vmcs_write(VIRTUAL_PROCESSOR_ID, 1);
  vmcs_write(GUEST_RIP, (u64)(ulong)vmxbench_guest);
  u64 warm = vmxbench_roundtrips(WARMUP_ROUND_TRIPS);
  if (!check_eq("untimed round trips with VPID 1 (checksum)", warm, want_warmup)) return;
  if (!check_eq("VMCLEAR after the untimed VPID round trips", (u64)(s64)vmclear(pa(vmcs_pages[0])), VMX_OK)) return;
  if (!check_eq("VMPTRLD after the untimed VPID round trips", (u64)(s64)vmptrld(pa(vmcs_pages[0])), VMX_OK)) return;
  vmcs_write(GUEST_RIP, (u64)(ulong)vmxbench_guest);
  info("mark vmexit-vpid-start");
  u64 sum = vmxbench_roundtrips(ROUND_TRIPS);
  info("mark vmexit-vpid-end");
  if (sum == 0) {
    fail("vmxbench round trips with VPID 1", "exit reason 0x%llx (want 10, CPUID), VMLAUNCH/VMRESUME RFLAGS 0x%llx, VM-instruction error %llu",
         (unsigned long long)vmxbench_bad_reason, (unsigned long long)vmxbench_bad_flags, (unsigned long long)vmcs_read(VM_INSTRUCTION_ERROR));
  } else {
    check_eq("every round trip with VPID 1 exited for CPUID with the guest's leaf in RAX (checksum)", sum, want);
  }
  info("vmxbench vpid checksum 0x%llx", (unsigned long long)sum);
}

void test_main(void) {
  vmx_read_caps();
  if (!vmx_caps.supported) {
    skip("vmxbench", "CPUID.1:ECX.VMX = 0: this CPU has no VT-x (QEMU TCG does not emulate it; hvkit needs -cpu max,+vmx)");
    return;
  }
  int on = vmx_on();
  if (!check_eq("VMXON succeeds", (u64)(s64)on, VMX_OK)) return;
  vmcs_init_guest64(0);
  vmcs_write(GUEST_RIP, (u64)(ulong)vmxbench_guest);
  vmcs_write(GUEST_RSP, (u64)(ulong)(vmx_guest_stack + sizeof vmx_guest_stack));
  vmcs_write(GUEST_RFLAGS, 0x2);

  u64 want = 0;
  for (u64 i = 1; i <= ROUND_TRIPS; i++) want = want * 31 + i;
  u64 want_warmup = 0;
  for (u64 i = 1; i <= WARMUP_ROUND_TRIPS; i++) want_warmup = want_warmup * 31 + i;

  info("vmxbench round trips %d (after %d untimed)", ROUND_TRIPS, WARMUP_ROUND_TRIPS);
  vmxbench_native(WARMUP_ROUND_TRIPS);
  u64 warm = vmxbench_roundtrips(WARMUP_ROUND_TRIPS);
  if (!check_eq("untimed round trips exited for CPUID with the guest's leaf in RAX (checksum)", warm, want_warmup)) return;
  /* VMCLEAR + VMPTRLD: the VMCS is clear again for the timed phase's VMLAUNCH (SDM Vol. 3C §24.11.3); the guest restarts at its entry point. */
  if (!check_eq("VMCLEAR after the untimed round trips", (u64)(s64)vmclear(pa(vmcs_pages[0])), VMX_OK)) return;
  if (!check_eq("VMPTRLD after the untimed round trips", (u64)(s64)vmptrld(pa(vmcs_pages[0])), VMX_OK)) return;
  vmcs_write(GUEST_RIP, (u64)(ulong)vmxbench_guest);
  info("mark native-start");
  vmxbench_native(ROUND_TRIPS);
  info("mark native-end");
  info("mark vmexit-start");
  u64 sum = vmxbench_roundtrips(ROUND_TRIPS);
  info("mark vmexit-end");
  if (sum == 0) {
    fail("vmxbench round trips", "exit reason 0x%llx (want 10, CPUID), VMLAUNCH/VMRESUME RFLAGS 0x%llx, VM-instruction error %llu",
         (unsigned long long)vmxbench_bad_reason, (unsigned long long)vmxbench_bad_flags, (unsigned long long)vmcs_read(VM_INSTRUCTION_ERROR));
  } else {
    check_eq("every round trip exited for CPUID with the guest's leaf in RAX (checksum)", sum, want);
  }
  info("vmxbench checksum 0x%llx", (unsigned long long)sum);
  if (sum == want) vmxbench_vpid(want, want_warmup);
  vmx_off();
}
