/**
 * @module Received messages copied into shared byte slabs: a UDP datagram leaving the
 * socket's read buffer, a stream frame leaving its connection's buffer. One ArrayBuffer per
 * message (`slice`) costs several times the copy. A slab is never reused, only dropped once
 * full, so a view stays valid for as long as anyone holds it (and holding one keeps its
 * slab: the transport copies a body out when parsing, so messages kept for long do not).
 */
const SLAB_BYTES = 128 * 1024;
/** Messages above this get a buffer of their own. */
const SLAB_MAX_COPY = 8 * 1024;

let slab = new Uint8Array(SLAB_BYTES);
let slabUsed = 0;

/** A copy of `bytes`, a view of a shared slab when small. */
export function copyToSlab(bytes: Uint8Array): Uint8Array {
  const n = bytes.length;
  if (n > SLAB_MAX_COPY) return bytes.slice();
  if (slabUsed + n > SLAB_BYTES) {
    slab = new Uint8Array(SLAB_BYTES);
    slabUsed = 0;
  }
  const start = slabUsed;
  slab.set(bytes, start);
  slabUsed = (start + n + 7) & ~7;
  return slab.subarray(start, start + n);
}
