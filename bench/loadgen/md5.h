/*
 * MD5 (RFC 1321) for the bench's REGISTER generator: digest responses only, one short
 * message at a time. Written from the RFC's description; not a security primitive.
 * (md5.c holds the code.)
 */
#ifndef LOADGEN_MD5_H
#define LOADGEN_MD5_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint32_t s[4];
  uint64_t bytes;
  unsigned char buf[64];
} md5_ctx;

/* Computes the sine table once: call before the first digest. */
void md5_init_table(void);
void md5_begin(md5_ctx *c);
void md5_add(md5_ctx *c, const void *data, size_t n);
/* Pads (a 1 bit, zeros, the bit length little-endian) and writes 32 lowercase hex digits. */
void md5_hex(md5_ctx *c, char out[32]);

#endif
