/**
 * @module The digest replay state (RFC 7616 §3.4.5): for each nonce slot, the nonce that owns
 * it (random tag and issue time), the highest nonce-count accepted for it, and a fingerprint
 * of the request that used that count, so a retransmission of it is told from a replay. It lives in one `SharedArrayBuffer` that every worker thread of the process is
 * given, so a nonce-count accepted by one worker is a replay to all of them. A slot is read
 * and changed under a lock taken with `Atomics.compareExchange` (one of `LOCKS`, striped by
 * slot): its fields change together, and the critical section is a few loads and stores, so
 * a thread that finds the lock taken spins rather than sleeps.
 */

/** Locks striped over the slots (a power of two): contention needs two threads on one stripe. */
const LOCKS = 1024;
/**
 * Bytes a slot takes: issue time (f64), tag (i32), nonce-count (u32), fingerprint of the
 * request that used it (i32), when it was accepted (u16, `REPEAT_UNIT_MS` units).
 */
const SLOT_BYTES = 22;
/** The locks, then the fingerprint seed (two i32), then the accepted-at times (u16). */
const HEADER_BYTES = LOCKS * 4 + 8;
const REPEAT_UNIT_MS = 2000;
/**
 * How long after its acceptance a request may come again as a retransmission: 64·T1 with
 * the usual T1 of 500 ms (RFC 3261 Timer F: its client stops retransmitting then). A 16-bit
 * count of 2 s units wraps after 36 h, past the longest nonce lifetime (24 h).
 */
const REPEAT_UNITS = 32_000 / REPEAT_UNIT_MS;

export type NonceCountVerdict = "ok" | "repeat" | "replay" | "stale";

export class NonceCounts {
  readonly buffer: SharedArrayBuffer;
  /** Slots in the table. */
  readonly size: number;
  readonly #issued: Float64Array;
  readonly #tag: Int32Array;
  readonly #nc: Uint32Array;
  readonly #mark: Int32Array;
  readonly #markedAt: Uint16Array;
  readonly #locks: Int32Array;
  /** Random per table, shared by its views: a fingerprint cannot be computed outside. */
  readonly #seedLow: number;
  readonly #seedHigh: number;

  /** A new table of `slots` slots, or a view of one another thread made (its `buffer`). */
  constructor(slotsOrBuffer: number | SharedArrayBuffer) {
    const fresh = typeof slotsOrBuffer === "number";
    const size = fresh ? slotsOrBuffer : (slotsOrBuffer.byteLength - HEADER_BYTES) / SLOT_BYTES;
    if (!Number.isInteger(size) || size < 1) throw new Error("nonce counts: bad table size");
    this.size = size;
    this.buffer = fresh ? new SharedArrayBuffer(size * SLOT_BYTES + HEADER_BYTES) : slotsOrBuffer;
    this.#issued = new Float64Array(this.buffer, 0, size);
    this.#tag = new Int32Array(this.buffer, size * 8, size);
    this.#nc = new Uint32Array(this.buffer, size * 12, size);
    this.#mark = new Int32Array(this.buffer, size * 16, size);
    this.#locks = new Int32Array(this.buffer, size * 20, LOCKS);
    const seed = new Int32Array(this.buffer, size * 20 + LOCKS * 4, 2);
    this.#markedAt = new Uint16Array(this.buffer, size * 20 + HEADER_BYTES, size);
    if (fresh) {
      // No nonce owns a slot yet (tags are 24-bit, never -1).
      this.#tag.fill(-1);
      crypto.getRandomValues(seed);
    }
    this.#seedLow = seed[0];
    this.#seedHigh = seed[1];
  }

  /**
   * The fingerprint of a REGISTER's use of a nonce-count: its digest `response` (which
   * covers the nonce, nc, cnonce, user and digest-uri), its Call-ID and CSeq, and
   * `host`:`port`, where it came from. A retransmission has them all the same; a replay of the
   * credentials in another request, or from elsewhere, differs. Two seeded 32-bit lanes over
   * four ASCII characters a step, folded into one; 0 (no fingerprint: never a repeat) when a
   * text has any other character, where a step's word would not be one-to-one with them.
   */
  fingerprint(response: string, callId: string, cseq: number, host: string, port: number): number {
    laneLow = this.#seedLow;
    laneHigh = this.#seedHigh;
    const units = feed(response) | feed(callId) | feed(host);
    if (units > 0x7f) return 0;
    // A final mix (murmur3's) so every input bit reaches every output bit.
    let h = laneLow ^ Math.imul(laneHigh, 0x85ebca6b) ^ Math.imul(cseq, 0xcc9e2d51) ^ port;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h ^= h >>> 16;
    return h === 0 ? 1 : h;
  }

  /** The slot belongs to a nonce just issued: the nonce it held before becomes stale. */
  take(slot: number, tag: number, issuedAt: number): void {
    const lock = this.#lock(slot);
    this.#tag[slot] = tag;
    this.#issued[slot] = issuedAt;
    this.#nc[slot] = 0;
    this.#mark[slot] = 0;
    Atomics.store(this.#locks, lock, 0);
  }

  /**
   * Records `nc` for the nonce when it is above the highest accepted, with `mark`, the
   * fingerprint of the request using it (0: none), at `now` (ms). The highest nc again with
   * the same mark within `REPEAT_UNITS` is a `repeat`: that very request retransmitted,
   * to be answered without being applied again. Any other reuse is a `replay`, and also
   * disarms the slot's repeat (an attacker guessing a fingerprint gets one try). A nonce
   * whose slot a newer nonce took is stale (its history is gone, so it may not be
   * replayed); one newer than its slot's owner (issued by another instance with the same
   * secret, or before a restart) takes the slot.
   */
  accept(
    slot: number,
    tag: number,
    issuedAt: number,
    nc: number,
    mark = 0,
    now = 0,
  ): NonceCountVerdict {
    if (nc < 1) return "replay";
    if (slot >= this.size) return "stale";
    const lock = this.#lock(slot);
    let verdict: NonceCountVerdict = "ok";
    const unit = (now / REPEAT_UNIT_MS) & 0xffff;
    if (this.#tag[slot] === tag && this.#issued[slot] === issuedAt) {
      const highest = this.#nc[slot];
      if (nc > highest) {
        this.#nc[slot] = nc;
        this.#mark[slot] = mark;
        this.#markedAt[slot] = unit;
      } else if (
        nc === highest && mark !== 0 && this.#mark[slot] === mark &&
        ((unit - this.#markedAt[slot]) & 0xffff) <= REPEAT_UNITS
      ) {
        verdict = "repeat";
      } else {
        verdict = "replay";
        if (nc === highest) this.#mark[slot] = 0;
      }
    } else if (issuedAt <= this.#issued[slot]) {
      verdict = "stale";
    } else {
      this.#tag[slot] = tag;
      this.#issued[slot] = issuedAt;
      this.#nc[slot] = nc;
      this.#mark[slot] = mark;
      this.#markedAt[slot] = unit;
    }
    Atomics.store(this.#locks, lock, 0);
    return verdict;
  }

  /** Takes the slot's lock (spinning: it is held for a few stores); returns its index. */
  #lock(slot: number): number {
    const lock = slot & (LOCKS - 1);
    while (Atomics.compareExchange(this.#locks, lock, 0, 1) !== 0) {
      // Another thread is inside the same stripe for a few stores.
    }
    return lock;
  }
}

/** The lanes of the fingerprint being computed (module state: no object per request). */
let laneLow = 0;
let laneHigh = 0;

/**
 * Feeds `text` to the lanes four characters a step, then its length, so texts cannot slide
 * into each other. Returns the OR of its UTF-16 units: above 0x7f, a character did not fit
 * its byte of the word.
 */
function feed(text: string): number {
  const length = text.length;
  let low = laneLow;
  let high = laneHigh;
  let units = 0;
  let i = 0;
  for (; i + 3 < length; i += 4) {
    const a = text.charCodeAt(i), b = text.charCodeAt(i + 1);
    const c = text.charCodeAt(i + 2), d = text.charCodeAt(i + 3);
    units |= a | b | c | d;
    const word = a | (b << 8) | (c << 16) | (d << 24);
    low = Math.imul(low ^ word, 0x01000193);
    high = Math.imul(((high << 5) | (high >>> 27)) ^ word, 0x9e3779b1);
  }
  let tail = 0;
  for (let shift = 0; i < length; i++, shift += 8) {
    const unit = text.charCodeAt(i);
    units |= unit;
    tail |= unit << shift;
  }
  // The last 0-3 characters, then the length: a step each.
  low = Math.imul(low ^ tail, 0x01000193);
  high = Math.imul(((high << 5) | (high >>> 27)) ^ tail, 0x9e3779b1);
  laneLow = Math.imul(low ^ length, 0x01000193);
  laneHigh = Math.imul(((high << 5) | (high >>> 27)) ^ length, 0x9e3779b1);
  return units;
}
