/**
 * @module MD5 (RFC 1321) of a string's UTF-8 bytes as lower-case hex, in plain TypeScript:
 * HTTP Digest hashes short strings several times per REGISTER, and node:crypto's
 * createHash costs about a microsecond per call in Deno, several times the hash itself.
 * For Digest interoperability only (RFC 7616 keeps MD5 for legacy clients), never for
 * anything that needs collision resistance. Pure; keeps only scratch buffers between calls.
 */

/** Per-round left-rotation amounts (RFC 1321 §3.4): each round repeats its four shifts four times. */
const S = new Int32Array(64);
[[7, 12, 17, 22], [5, 9, 14, 20], [4, 11, 16, 23], [6, 10, 15, 21]].forEach((shifts, round) => {
  for (let i = 0; i < 16; i++) S[round * 16 + i] = shifts[i & 3];
});

/** K[i] = floor(|sin(i + 1)| · 2^32). */
const K = new Int32Array(64);
for (let i = 0; i < 64; i++) K[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 0x100000000) | 0;

const HEX = Array.from({ length: 256 }, (_, b) => (b < 16 ? "0" : "") + b.toString(16));
const M = new Int32Array(16);
const encoder = new TextEncoder();
let scratch = new Uint8Array(1024);

function block(state: Int32Array, bytes: Uint8Array, at: number): void {
  for (let i = 0; i < 16; i++) {
    const j = at + i * 4;
    M[i] = bytes[j] | (bytes[j + 1] << 8) | (bytes[j + 2] << 16) | (bytes[j + 3] << 24);
  }
  let a = state[0], b = state[1], c = state[2], d = state[3];
  // One loop per round (RFC 1321 §3.4): no per-step branch on the round.
  for (let i = 0; i < 16; i++) {
    const x = (a + ((b & c) | (~b & d)) + K[i] + M[i]) | 0;
    const r = S[i];
    a = d;
    d = c;
    c = b;
    b = (b + ((x << r) | (x >>> (32 - r)))) | 0;
  }
  for (let i = 16; i < 32; i++) {
    const x = (a + ((d & b) | (~d & c)) + K[i] + M[(5 * i + 1) & 15]) | 0;
    const r = S[i];
    a = d;
    d = c;
    c = b;
    b = (b + ((x << r) | (x >>> (32 - r)))) | 0;
  }
  for (let i = 32; i < 48; i++) {
    const x = (a + (b ^ c ^ d) + K[i] + M[(3 * i + 5) & 15]) | 0;
    const r = S[i];
    a = d;
    d = c;
    c = b;
    b = (b + ((x << r) | (x >>> (32 - r)))) | 0;
  }
  for (let i = 48; i < 64; i++) {
    const x = (a + (c ^ (b | ~d)) + K[i] + M[(7 * i) & 15]) | 0;
    const r = S[i];
    a = d;
    d = c;
    c = b;
    b = (b + ((x << r) | (x >>> (32 - r)))) | 0;
  }
  state[0] = (state[0] + a) | 0;
  state[1] = (state[1] + b) | 0;
  state[2] = (state[2] + c) | 0;
  state[3] = (state[3] + d) | 0;
}

/**
 * UTF-8 bytes of `parts` joined by ":" in a scratch buffer with room for the padding;
 * returns the length. Written part by part: no joined string is built for ASCII input.
 */
function load(parts: readonly string[]): number {
  let chars = parts.length - 1;
  for (let k = 0; k < parts.length; k++) chars += parts[k].length;
  if (scratch.length < chars * 3 + 72) scratch = new Uint8Array(chars * 3 + 72);
  const bytes = scratch;
  let at = 0;
  for (let k = 0; k < parts.length; k++) {
    if (k > 0) bytes[at++] = COLON;
    const text = parts[k];
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c >= 128) return encoder.encodeInto(parts.join(":"), bytes).written;
      bytes[at++] = c;
    }
  }
  return at;
}

const COLON = 58;
const state = new Int32Array(4);

/** MD5 of the UTF-8 encoding of `text`, 32 lower-case hex digits. */
export function md5Hex(text: string): string {
  return md5HexJoined([text]);
}

/** MD5 of the UTF-8 encoding of `parts.join(":")` (Digest's H(a:b:c)), 32 lower-case hex digits. */
export function md5HexJoined(parts: readonly string[]): string {
  digestJoined(parts);
  let out = "";
  for (let i = 0; i < 4; i++) {
    const v = state[i];
    out += HEX[v & 255] + HEX[(v >>> 8) & 255] + HEX[(v >>> 16) & 255] + HEX[(v >>> 24) & 255];
  }
  return out;
}

/**
 * True when `hex` (either case) is the MD5 of `parts.join(":")`: a Digest response checked
 * without building the expected hex string.
 */
export function md5JoinedEqualsHex(parts: readonly string[], hex: string): boolean {
  if (hex.length !== 32) return false;
  digestJoined(parts);
  for (let i = 0; i < 16; i++) {
    const hi = hexValue(hex.charCodeAt(i * 2));
    const lo = hexValue(hex.charCodeAt(i * 2 + 1));
    if ((hi | lo) < 0 || ((hi << 4) | lo) !== ((state[i >> 2] >>> ((i & 3) * 8)) & 255)) {
      return false;
    }
  }
  return true;
}

/** The value of a hex digit's char code (either case), -1 for anything else. */
function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 32;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

/** MD5 of `parts.join(":")` into `state`. */
function digestJoined(parts: readonly string[]): void {
  const n = load(parts);
  const bytes = scratch;
  // Padding (RFC 1321 §3.1-3.2): 0x80, zeros to 56 mod 64, then the bit length, LE.
  const total = ((n + 8) >>> 6) * 64 + 64;
  bytes[n] = 0x80;
  bytes.fill(0, n + 1, total - 8);
  const bits = n * 8;
  const high = Math.floor(n / 0x20000000);
  bytes[total - 8] = bits;
  bytes[total - 7] = bits >>> 8;
  bytes[total - 6] = bits >>> 16;
  bytes[total - 5] = bits >>> 24;
  bytes[total - 4] = high;
  bytes[total - 3] = high >>> 8;
  bytes[total - 2] = high >>> 16;
  bytes[total - 1] = high >>> 24;
  state[0] = 0x67452301;
  state[1] = 0xefcdab89 | 0;
  state[2] = 0x98badcfe | 0;
  state[3] = 0x10325476;
  for (let at = 0; at < total; at += 64) block(state, bytes, at);
}
