/*
 * md5.c: MD5 (RFC 1321) for the bench's generators (md5.h says what for).
 */
#include "md5.h"

#include <math.h>
#include <string.h>

#define MD5_ROTL(x, c) (((x) << (c)) | ((x) >> (32 - (c))))

/* RFC 1321 3.4: per-round shift amounts, and T[i] = floor(2^32 * |sin(i + 1)|). */
static const uint32_t MD5_SHIFT[64] = {
  7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
  5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
  4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
  6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
};
static uint32_t MD5_T[64];

void md5_init_table(void) {
  /* The sine table is computed once rather than typed in (link with -lm). */
  for (int i = 0; i < 64; i++) MD5_T[i] = (uint32_t)(fabs(sin((double)(i + 1))) * 4294967296.0);
}

static void md5_block(uint32_t st[4], const unsigned char *p) {
  uint32_t m[16];
  for (int i = 0; i < 16; i++) {
    m[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
           (uint32_t)p[4 * i + 3] << 24;
  }
  uint32_t a = st[0], b = st[1], c = st[2], d = st[3];
  for (int i = 0; i < 64; i++) {
    uint32_t f;
    int g;
    if (i < 16) {
      f = (b & c) | (~b & d);
      g = i;
    } else if (i < 32) {
      f = (b & d) | (c & ~d);
      g = (5 * i + 1) & 15;
    } else if (i < 48) {
      f = b ^ c ^ d;
      g = (3 * i + 5) & 15;
    } else {
      f = c ^ (b | ~d);
      g = (7 * i) & 15;
    }
    uint32_t t = d;
    d = c;
    c = b;
    b = b + MD5_ROTL(a + f + MD5_T[i] + m[g], MD5_SHIFT[i]);
    a = t;
  }
  st[0] += a;
  st[1] += b;
  st[2] += c;
  st[3] += d;
}

void md5_begin(md5_ctx *c) {
  c->s[0] = 0x67452301;
  c->s[1] = 0xefcdab89;
  c->s[2] = 0x98badcfe;
  c->s[3] = 0x10325476;
  c->bytes = 0;
}

void md5_add(md5_ctx *c, const void *data, size_t n) {
  const unsigned char *p = data;
  size_t have = c->bytes & 63;
  c->bytes += n;
  if (have) {
    size_t take = 64 - have < n ? 64 - have : n;
    memcpy(c->buf + have, p, take);
    p += take;
    n -= take;
    if (have + take < 64) return;
    md5_block(c->s, c->buf);
  }
  for (; n >= 64; p += 64, n -= 64) md5_block(c->s, p);
  memcpy(c->buf, p, n);
}

void md5_hex(md5_ctx *c, char out[32]) {
  uint64_t bits = c->bytes * 8;
  unsigned char pad[72] = {0x80};
  size_t have = c->bytes & 63;
  size_t padn = have < 56 ? 56 - have : 120 - have;
  md5_add(c, pad, padn);
  unsigned char len[8];
  for (int i = 0; i < 8; i++) len[i] = (unsigned char)(bits >> (8 * i));
  md5_add(c, len, 8);
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < 16; i++) {
    unsigned char byte = (unsigned char)(c->s[i / 4] >> (8 * (i % 4)));
    out[2 * i] = hex[byte >> 4];
    out[2 * i + 1] = hex[byte & 15];
  }
}

