/**
 * @module The Call-ID of a raw message, hashed without parsing it: the key that sends every
 * message of a call (transactions, CANCEL, ACK, in-dialog requests, responses) to the same
 * worker. Reads the header by its long (`Call-ID`) or compact (`i`) name, case-insensitively,
 * stopping at the blank line that ends the headers.
 */

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const LF = 10;
const CR = 13;
const COLON = 58;

function isBlank(b: number): boolean {
  return b === 32 || b === 9;
}

/** Index just past the header name `Call-ID` / `i` starting at `at`, or -1. */
function afterName(bytes: Uint8Array, at: number): number {
  const first = bytes[at] | 32;
  if (first === 105 /* i */) {
    const next = bytes[at + 1];
    return next === COLON || isBlank(next) ? at + 1 : -1;
  }
  if (first !== 99 /* c */ || at + 7 > bytes.length) return -1;
  const name = "call-id";
  for (let k = 1; k < 7; k++) if ((bytes[at + k] | 32) !== name.charCodeAt(k)) return -1;
  return at + 7;
}

/**
 * FNV-1a (32 bits) of the Call-ID value, or -1 when the message has none (it is then
 * malformed and answered wherever it arrived).
 */
export function callIdHash(bytes: Uint8Array): number {
  const n = bytes.length;
  for (let i = 0; i < n - 1; i++) {
    if (bytes[i] !== LF) continue;
    if (bytes[i + 1] === CR || bytes[i + 1] === LF) return -1; // end of headers
    let j = afterName(bytes, i + 1);
    if (j < 0) continue;
    while (j < n && isBlank(bytes[j])) j++;
    if (bytes[j] !== COLON) continue;
    j++;
    while (j < n && isBlank(bytes[j])) j++;
    let end = j;
    while (end < n && bytes[end] !== CR && bytes[end] !== LF) end++;
    // Trailing blanks are not part of the value (RFC 3261 §7.3.1): a proxy drops them.
    while (end > j && isBlank(bytes[end - 1])) end--;
    let hash = FNV_OFFSET;
    for (; j < end; j++) hash = Math.imul(hash ^ bytes[j], FNV_PRIME);
    return hash >>> 0;
  }
  return -1;
}

/** The same hash of a Call-ID value we write ourselves (ASCII, as `newCallId` makes). */
export function callIdValueHash(callId: string): number {
  let hash = FNV_OFFSET;
  for (let i = 0; i < callId.length; i++) hash = Math.imul(hash ^ callId.charCodeAt(i), FNV_PRIME);
  return hash >>> 0;
}

/**
 * With 3 or more workers the main thread (worker 0) reads every datagram and runs the
 * control plane; it handles only 1 in `MAIN_SLOTS` Call-ID hashes (and the requests it starts
 * itself, whose Call-IDs it picks in that slot), so the SIP work is the worker threads'. With
 * 2 it takes half the calls: on 2 cores a third thread cost more CPU than it freed
 * (docs/workers.md).
 */
export const MAIN_SLOTS = 64;

/** The worker (0 = the main thread) that handles the call whose Call-ID hashes to `hash`. */
export function callOwner(hash: number, count: number): number {
  if (count <= 1) return 0;
  // FNV-1a's low bits follow the last bytes closely (Call-IDs that differ in a counter
  // would fall in few slots): mixed first (MurmurHash3's finalizer).
  let h = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h = (h ^ (h >>> 16)) >>> 0;
  if (count === 2) return h % 2;
  return h % MAIN_SLOTS === 0 ? 0 : 1 + Math.floor(h / MAIN_SLOTS) % (count - 1);
}
