/*
 * COM1 output and printf. The UART is programmed as every PC driver does it (PC16550D
 * datasheet register names): 115200 baud (DLAB=1, divisor 1), 8 data bits no parity 1 stop
 * bit (LCR = 0x03; after reset LCR selects 5-bit characters and Bochs masks output to 5 bits),
 * FIFOs on, DTR|RTS|OUT2. Output polls LSR.THRE before each character.
 */
#include "guest.h"

#define COM1 0x3f8

void serial_init(void) {
  outb(COM1 + 1, 0x00); /* IER: no interrupts */
  outb(COM1 + 3, 0x80); /* LCR: DLAB */
  outb(COM1 + 0, 0x01); /* DLL: divisor 1 = 115200 baud */
  outb(COM1 + 1, 0x00); /* DLM */
  outb(COM1 + 3, 0x03); /* LCR: 8N1 */
  outb(COM1 + 2, 0xc7); /* FCR: enable and clear the FIFOs, trigger level 14 */
  outb(COM1 + 4, 0x0b); /* MCR: DTR, RTS, OUT2 */
}

void serial_putc(char c) {
  if (c == '\n') serial_putc('\r');
  for (int spin = 0; spin < 100000 && !(inb(COM1 + 5) & 0x20); spin++) {
  }
  outb(COM1, (u8)c);
}

/* ---- formatting ------------------------------------------------------------------------- */

struct sink {
  char *buf;  /* NULL: the serial port */
  size_t size, len;
};

static void put(struct sink *s, char c) {
  if (!s->buf) {
    serial_putc(c);
  } else if (s->len + 1 < s->size) {
    s->buf[s->len] = c;
  }
  s->len++;
}

/* u64 / 10 and u64 % 10 without libgcc (there is no 32-bit libgcc here). */
static u64 divmod10(u64 v, u32 *rem) {
#ifdef __x86_64__
  *rem = (u32)(v % 10);
  return v / 10;
#else
  u32 hi = (u32)(v >> 32), lo = (u32)v, qhi = hi / 10, r = hi % 10, qlo;
  __asm__("divl %4" : "=a"(qlo), "=d"(r) : "a"(lo), "d"(r), "r"(10u));
  *rem = r;
  return ((u64)qhi << 32) | qlo;
#endif
}

static void put_number(struct sink *s, u64 v, int base, int upper, int width, int zero, int left, int negative) {
  char tmp[24];
  int n = 0;
  const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  do {
    u32 r;
    if (base == 16) {
      r = (u32)v & 15;
      v >>= 4;
    } else {
      v = divmod10(v, &r);
    }
    tmp[n++] = digits[r];
  } while (v != 0);
  int len = n + negative;
  if (!left && !zero)
    for (; width > len; width--) put(s, ' ');
  if (negative) put(s, '-');
  if (!left && zero)
    for (; width > len; width--) put(s, '0');
  while (n > 0) put(s, tmp[--n]);
  if (left)
    for (; width > len; width--) put(s, ' ');
}

static void format(struct sink *s, const char *fmt, va_list ap) {
  for (; *fmt; fmt++) {
    if (*fmt != '%') {
      put(s, *fmt);
      continue;
    }
    fmt++;
    int zero = 0, left = 0, width = 0, longs = 0;
    for (;; fmt++) {
      if (*fmt == '0') zero = 1;
      else if (*fmt == '-') left = 1;
      else break;
    }
    while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
    while (*fmt == 'l' || *fmt == 'z') {
      longs += *fmt == 'z' ? (sizeof(size_t) == 8 ? 2 : 1) : 1;
      fmt++;
    }
    if (longs == 1 && sizeof(long) == 8) longs = 2;
    switch (*fmt) {
      case 'd':
      case 'i': {
        s64 v = longs >= 2 ? va_arg(ap, s64) : va_arg(ap, int);
        put_number(s, v < 0 ? (u64)-v : (u64)v, 10, 0, width, zero, left, v < 0);
        break;
      }
      case 'u':
      case 'x':
      case 'X': {
        u64 v = longs >= 2 ? va_arg(ap, u64) : va_arg(ap, unsigned);
        put_number(s, v, *fmt == 'u' ? 10 : 16, *fmt == 'X', width, zero, left, 0);
        break;
      }
      case 'p':
        put(s, '0');
        put(s, 'x');
        put_number(s, (ulong)va_arg(ap, void *), 16, 0, width, zero, left, 0);
        break;
      case 's': {
        const char *str = va_arg(ap, const char *);
        if (!str) str = "(null)";
        int len = (int)strlen(str);
        if (!left)
          for (; width > len; width--) put(s, ' ');
        while (*str) put(s, *str++);
        if (left)
          for (; width > len; width--) put(s, ' ');
        break;
      }
      case 'c':
        put(s, (char)va_arg(ap, int));
        break;
      case '%':
        put(s, '%');
        break;
      case 0:
        return;
      default:
        put(s, '%');
        put(s, *fmt);
    }
  }
}

void vprintf(const char *fmt, va_list ap) {
  struct sink s = {0, 0, 0};
  format(&s, fmt, ap);
}

void printf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
}

void snprintf(char *buf, size_t size, const char *fmt, ...) {
  struct sink s = {buf, size, 0};
  va_list ap;
  va_start(ap, fmt);
  format(&s, fmt, ap);
  va_end(ap);
  if (size) buf[s.len < size ? s.len : size - 1] = 0;
}

/* ---- string ----------------------------------------------------------------------------- */

void *memset(void *d, int c, size_t n) {
  u8 *p = d;
  while (n--) *p++ = (u8)c;
  return d;
}

void *memcpy(void *d, const void *s, size_t n) {
  u8 *p = d;
  const u8 *q = s;
  while (n--) *p++ = *q++;
  return d;
}

void *memmove(void *d, const void *s, size_t n) {
  u8 *p = d;
  const u8 *q = s;
  if (p < q) {
    while (n--) *p++ = *q++;
  } else {
    while (n--) p[n] = q[n];
  }
  return d;
}

int memcmp(const void *a, const void *b, size_t n) {
  const u8 *p = a, *q = b;
  for (; n; n--, p++, q++)
    if (*p != *q) return *p < *q ? -1 : 1;
  return 0;
}

size_t strlen(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

int strcmp(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return (u8)*a - (u8)*b;
}
