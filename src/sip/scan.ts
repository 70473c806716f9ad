/**
 * @module Byte scanning shared by the stream framer and the parser: finds the next LF four
 * bytes at a time through a `DataView` word, so a head line costs a few word reads instead
 * of a byte loop or a `Uint8Array.indexOf` (a C++ builtin call) per line.
 */

/** A `DataView` over exactly the bytes of `bytes`, for `nextLf`. */
export function wordsOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Index of the first LF in `buf[from, end)`, or `end` when there is none. */
export function nextLf(buf: Uint8Array, words: DataView, from: number, end: number): number {
  let i = from;
  // Four bytes at a time while none is LF (a zero byte of word ^ 0x0a0a0a0a).
  while (i + 4 <= end) {
    const x = words.getUint32(i) ^ 0x0a0a0a0a;
    if (((x - 0x01010101) & ~x & 0x80808080) !== 0) break;
    i += 4;
  }
  while (i < end && buf[i] !== 10) i++;
  return i;
}
