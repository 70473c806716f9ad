/**
 * @module The digest replay state (RFC 7616 §3.4.5): for each nonce slot, the nonce that owns
 * it (random tag and issue time) and the highest nonce-count accepted for it. It lives in one
 * `SharedArrayBuffer` that every worker thread of the process is given, so a nonce-count
 * accepted by one worker is a replay to all of them. A slot is read and changed under a lock
 * taken with `Atomics.compareExchange` (one of `LOCKS`, striped by slot): its three fields
 * change together, and the critical section is a few loads and stores, so a thread that finds
 * the lock taken spins rather than sleeps.
 */

/** Locks striped over the slots (a power of two): contention needs two threads on one stripe. */
const LOCKS = 1024;
/** Bytes a slot takes: issue time (f64), tag (i32), nonce-count (u32). */
const SLOT_BYTES = 16;

export class NonceCounts {
  readonly buffer: SharedArrayBuffer;
  /** Slots in the table. */
  readonly size: number;
  readonly #issued: Float64Array;
  readonly #tag: Int32Array;
  readonly #nc: Uint32Array;
  readonly #locks: Int32Array;

  /** A new table of `slots` slots, or a view of one another thread made (its `buffer`). */
  constructor(slotsOrBuffer: number | SharedArrayBuffer) {
    const fresh = typeof slotsOrBuffer === "number";
    const size = fresh ? slotsOrBuffer : (slotsOrBuffer.byteLength - LOCKS * 4) / SLOT_BYTES;
    if (!Number.isInteger(size) || size < 1) throw new Error("nonce counts: bad table size");
    this.size = size;
    this.buffer = fresh ? new SharedArrayBuffer(size * SLOT_BYTES + LOCKS * 4) : slotsOrBuffer;
    this.#issued = new Float64Array(this.buffer, 0, size);
    this.#tag = new Int32Array(this.buffer, size * 8, size);
    this.#nc = new Uint32Array(this.buffer, size * 12, size);
    this.#locks = new Int32Array(this.buffer, size * 16, LOCKS);
    // No nonce owns a slot yet (tags are 24-bit, never -1).
    if (fresh) this.#tag.fill(-1);
  }

  /** The slot belongs to a nonce just issued: the nonce it held before becomes stale. */
  take(slot: number, tag: number, issuedAt: number): void {
    const lock = this.#lock(slot);
    this.#tag[slot] = tag;
    this.#issued[slot] = issuedAt;
    this.#nc[slot] = 0;
    Atomics.store(this.#locks, lock, 0);
  }

  /**
   * Records `nc` for the nonce when it is above the highest accepted. A nonce whose slot a
   * newer nonce took is stale (its history is gone, so it may not be replayed); one newer
   * than its slot's owner (issued by another instance with the same secret, or before a
   * restart) takes the slot.
   */
  accept(slot: number, tag: number, issuedAt: number, nc: number): "ok" | "replay" | "stale" {
    if (nc < 1) return "replay";
    if (slot >= this.size) return "stale";
    const lock = this.#lock(slot);
    let verdict: "ok" | "replay" | "stale" = "ok";
    if (this.#tag[slot] === tag && this.#issued[slot] === issuedAt) {
      if (nc <= this.#nc[slot]) verdict = "replay";
      else this.#nc[slot] = nc;
    } else if (issuedAt <= this.#issued[slot]) {
      verdict = "stale";
    } else {
      this.#tag[slot] = tag;
      this.#issued[slot] = issuedAt;
      this.#nc[slot] = nc;
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
