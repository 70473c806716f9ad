/**
 * @module SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104) in plain TypeScript for short,
 * frequent inputs: a keyed `HmacSha256` keeps the inner and outer states after the key
 * block, so one MAC of a message under 56 bytes costs two compressions and no allocation
 * of hash objects (node:crypto's createHmac costs ~15 µs per call in Deno). Pure: no I/O,
 * no randomness. Not constant-time with respect to the message; the key is processed once.
 */

const K = new Int32Array([
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2,
]);

const INITIAL = new Int32Array([
  0x6a09e667,
  0xbb67ae85,
  0x3c6ef372,
  0xa54ff53a,
  0x510e527f,
  0x9b05688c,
  0x1f83d9ab,
  0x5be0cd19,
]);

const W = new Int32Array(64);
/** Padding scratch: allocating a typed array per hash costs more than the hash here. */
const TAIL = new Uint8Array(128);

/** One compression of the 64-byte block at `block[offset..]` into `state`. */
function compress(state: Int32Array, block: Uint8Array, offset: number): void {
  for (let i = 0; i < 16; i++) {
    const j = offset + i * 4;
    W[i] = (block[j] << 24) | (block[j + 1] << 16) | (block[j + 2] << 8) | block[j + 3];
  }
  for (let i = 16; i < 64; i++) {
    const w15 = W[i - 15];
    const w2 = W[i - 2];
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
    W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
  }
  let a = state[0], b = state[1], c = state[2], d = state[3];
  let e = state[4], f = state[5], g = state[6], h = state[7];
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const ch = (e & f) ^ (~e & g);
    const t1 = (h + S1 + ch + K[i] + W[i]) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const maj = (a & b) ^ (a & c) ^ (b & c);
    const t2 = (S0 + maj) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0] = (state[0] + a) | 0;
  state[1] = (state[1] + b) | 0;
  state[2] = (state[2] + c) | 0;
  state[3] = (state[3] + d) | 0;
  state[4] = (state[4] + e) | 0;
  state[5] = (state[5] + f) | 0;
  state[6] = (state[6] + g) | 0;
  state[7] = (state[7] + h) | 0;
}

/**
 * Continues from `state` (which has absorbed `prefixBytes` bytes, a multiple of 64) over
 * `data`, pads, and writes the 32-byte digest into `out`.
 */
function finish(state: Int32Array, prefixBytes: number, data: Uint8Array, out: Uint8Array): void {
  let off = 0;
  const n = data.length;
  for (; off + 64 <= n; off += 64) compress(state, data, off);
  const rest = n - off;
  const tail = TAIL;
  tail.fill(0);
  for (let i = 0; i < rest; i++) tail[i] = data[off + i];
  tail[rest] = 0x80;
  const bits = (prefixBytes + n) * 8;
  const end = rest < 56 ? 64 : 128;
  // Messages here are far below 2^32 bytes; the high word still carries the overflow.
  const high = Math.floor(bits / 0x100000000);
  tail[end - 8] = high >>> 24;
  tail[end - 7] = high >>> 16;
  tail[end - 6] = high >>> 8;
  tail[end - 5] = high;
  tail[end - 4] = bits >>> 24;
  tail[end - 3] = bits >>> 16;
  tail[end - 2] = bits >>> 8;
  tail[end - 1] = bits;
  compress(state, tail, 0);
  if (end === 128) compress(state, tail, 64);
  for (let i = 0; i < 8; i++) {
    const v = state[i];
    out[i * 4] = v >>> 24;
    out[i * 4 + 1] = v >>> 16;
    out[i * 4 + 2] = v >>> 8;
    out[i * 4 + 3] = v;
  }
}

/** SHA-256 of `data`. */
export function sha256(data: Uint8Array): Uint8Array {
  const state = INITIAL.slice();
  const out = new Uint8Array(32);
  finish(state, 0, data, out);
  return out;
}

/** A key as one 64-byte block: zero-padded, or hashed first when longer (RFC 2104). */
function keyBlock(key: Uint8Array): Uint8Array {
  const block = new Uint8Array(64);
  block.set(key.length > 64 ? sha256(key) : key);
  return block;
}

/** HMAC-SHA256 with a fixed key: the key blocks are hashed once, at construction. */
export class HmacSha256 {
  readonly #inner = new Int32Array(8);
  readonly #outer = new Int32Array(8);
  readonly #scratch = new Int32Array(8);
  readonly #innerDigest = new Uint8Array(32);

  constructor(key: Uint8Array) {
    const block = keyBlock(key);
    const pad = new Uint8Array(64);
    this.#inner.set(INITIAL);
    for (let i = 0; i < 64; i++) pad[i] = block[i] ^ 0x36;
    compress(this.#inner, pad, 0);
    this.#outer.set(INITIAL);
    for (let i = 0; i < 64; i++) pad[i] = block[i] ^ 0x5c;
    compress(this.#outer, pad, 0);
  }

  /** HMAC(key, message) as 32 bytes. */
  mac(message: Uint8Array): Uint8Array {
    return this.macInto(message, new Uint8Array(32));
  }

  /** HMAC(key, message) written into `out[0..32]`; returns `out`. */
  macInto(message: Uint8Array, out: Uint8Array): Uint8Array {
    const s = this.#scratch;
    s.set(this.#inner);
    finish(s, 64, message, this.#innerDigest);
    s.set(this.#outer);
    finish(s, 64, this.#innerDigest, out);
    return out;
  }
}

/**
 * Truncated secret-prefix SHA-256, SHA-256(key block | message) cut to what the caller
 * keeps: AMAC (Bellare, Bernstein and Tessaro, CRYPTO 2016), a PRF when the output is
 * truncated (here to at most 16 of 32 bytes, so a length extension has most of the state
 * to guess). The key block is absorbed once, so a message under 56 bytes costs one
 * compression where HMAC costs two. For short fixed-format tags (digest nonces).
 */
export class TruncatedPrefixMac {
  readonly #keyed = new Int32Array(8);
  readonly #scratch = new Int32Array(8);
  readonly #digest = new Uint8Array(32);

  constructor(key: Uint8Array) {
    const block = keyBlock(key);
    this.#keyed.set(INITIAL);
    compress(this.#keyed, block, 0);
  }

  /** The first `bytes` (at most 16) bytes of SHA-256(key block | message) into `out`; returns `out`. */
  macInto(message: Uint8Array, out: Uint8Array, bytes: number): Uint8Array {
    if (bytes > 16) throw new RangeError("a prefix MAC is kept to 16 bytes at most");
    const s = this.#scratch;
    s.set(this.#keyed);
    finish(s, 64, message, this.#digest);
    for (let i = 0; i < bytes; i++) out[i] = this.#digest[i];
    return out;
  }
}
