/**
 * @module What is left of a non-INVITE server transaction once its final response went out
 * over an unreliable flow (RFC 3261 §17.2.2 Completed, Timer J = 64·T1): its key, the flow
 * and the bytes of that response, nothing else. A request retransmission matching the key
 * gets the same bytes again. The bytes live in one preallocated ring buffer and the keys in
 * one Map, so the memory is bounded by design whatever the request rate: an entry leaves
 * when Timer J expires, or earlier when the ring wraps over its bytes or the entry cap is
 * reached (a retransmission arriving after that is handled as a new request, which
 * REGISTER, OPTIONS and a proxied BYE tolerate; the alternative is unbounded memory).
 */
import type { Flow } from "../transport/types.ts";
import { hashHigh, hashLow, hashStart, hashText } from "./key_hash.ts";

/**
 * Default byte budget for kept responses: 8 MiB. A REGISTER exchange leaves two (401, 200) of
 * 400-600 bytes (~8,000 exchanges fit), so this covers Timer J in full up to ~250
 * registrations/s and a client's first three retransmissions (sent by 7·T1 = 3.5 s) up to
 * ~2,400/s; past that a late retransmission is answered anew. Resident once the ring has wrapped, so it is a floor of the RSS under load.
 */
export const COMPLETED_RING_BYTES = 8 * 1024 * 1024;

/** A kept response: a copy of its bytes (the ring moves on) and the flow it went out on. */
export interface CompletedResponse {
  status: number;
  bytes: Uint8Array;
  flow: Flow;
}

export class CompletedResponses {
  readonly #ring: Uint8Array;
  #write = 0;
  readonly #ttl: number;
  /**
   * key → slot of its entry (the latest, when a key was kept twice): an open-addressing
   * table of [slot + 1 (0: empty), hash of the key] pairs, linear probing, at most half
   * full. Nearly every lookup is a miss (a new request), which this answers from one pair
   * of integers; a Map of ~16k string keys took several cache misses per lookup.
   */
  readonly #table: Int32Array;
  readonly #mask: number;
  #size = 0;
  /** The hashes of the last key looked up: `put` follows `get` with the same key string. */
  #lastKey = "";
  #lastLow = 0;
  #lastHigh = 0;
  // Entries in write order, in circular parallel arrays indexed by seq % cap.
  readonly #cap: number;
  readonly #flows: (Flow | undefined)[];
  /**
   * Each entry's pair of key hashes (bucket, check). Keys are matched by the 64 bits, not
   * kept as strings: a key string would be flattened (or pin the received head its branch
   * is a slice of) and traced by every major GC for as long as the entry lives.
   */
  readonly #lows: Int32Array;
  readonly #highs: Int32Array;
  readonly #offsets: Int32Array;
  readonly #lengths: Int32Array;
  readonly #statuses: Uint16Array;
  readonly #expires: Float64Array;
  #head = 0;
  #tail = 0;

  /** `ttlMs`: Timer J. `ringBytes`: the byte budget; `maxEntries` defaults to one per 256 bytes. */
  constructor(ttlMs: number, ringBytes = COMPLETED_RING_BYTES, maxEntries?: number) {
    this.#ttl = ttlMs;
    this.#ring = new Uint8Array(ringBytes);
    this.#cap = Math.max(1, maxEntries ?? Math.floor(ringBytes / 256));
    this.#flows = new Array(this.#cap);
    this.#lows = new Int32Array(this.#cap);
    this.#highs = new Int32Array(this.#cap);
    let buckets = 2;
    while (buckets < this.#cap * 2) buckets *= 2;
    this.#table = new Int32Array(buckets * 2);
    this.#mask = buckets - 1;
    this.#offsets = new Int32Array(this.#cap);
    this.#lengths = new Int32Array(this.#cap);
    this.#statuses = new Uint16Array(this.#cap);
    this.#expires = new Float64Array(this.#cap);
  }

  get size(): number {
    return this.#size;
  }

  /** Keeps `bytes` (copied) for `key` until Timer J; too large a response is not kept. */
  put(key: string, status: number, bytes: Uint8Array, flow: Flow, now: number): void {
    this.expire(now);
    const length = bytes.length;
    if (length > this.#ring.length >> 4) return; // a rare huge answer: not worth the ring
    if (this.#write + length > this.#ring.length) this.#write = 0; // wrap; the tail is wasted
    const start = this.#write;
    const end = start + length;
    // Entries are laid out in write order, so the oldest ones sit right after the write
    // position: evict them while they overlap the bytes about to be written.
    while (this.#head < this.#tail) {
      const slot = this.#head % this.#cap;
      const offset = this.#offsets[slot];
      if (offset >= end || offset + this.#lengths[slot] <= start) break;
      this.#evictHead();
    }
    if (this.#tail - this.#head >= this.#cap) this.#evictHead();
    this.#ring.set(bytes, start);
    this.#write = end;
    const slot = this.#tail++ % this.#cap;
    this.#flows[slot] = flow;
    this.#offsets[slot] = start;
    this.#lengths[slot] = length;
    this.#statuses[slot] = status;
    this.#expires[slot] = now + this.#ttl;
    this.#hash(key);
    const low = this.#lastLow;
    this.#lows[slot] = low;
    this.#highs[slot] = this.#lastHigh;
    const bucket = this.#find(low, this.#lastHigh);
    if (this.#table[bucket] === 0) this.#size++;
    this.#table[bucket] = slot + 1;
    this.#table[bucket + 1] = low;
  }

  /** The response kept for `key`, or undefined (never kept, expired or evicted). */
  get(key: string, now: number): CompletedResponse | undefined {
    this.#hash(key);
    const bucket = this.#find(this.#lastLow, this.#lastHigh);
    if (this.#table[bucket] === 0) return undefined;
    const slot = this.#table[bucket] - 1;
    if (this.#expires[slot] <= now) {
      this.expire(now);
      return undefined;
    }
    const offset = this.#offsets[slot];
    return {
      status: this.#statuses[slot],
      // A copy: a send may complete after later puts have overwritten the ring.
      bytes: this.#ring.slice(offset, offset + this.#lengths[slot]),
      flow: this.#flows[slot]!,
    };
  }

  /** Drops every entry whose Timer J expired. */
  expire(now: number): void {
    while (this.#head < this.#tail && this.#expires[this.#head % this.#cap] <= now) {
      this.#evictHead();
    }
  }

  clear(): void {
    while (this.#head < this.#tail) this.#evictHead();
    this.#write = 0;
  }

  #evictHead(): void {
    const slot = this.#head++ % this.#cap;
    this.#flows[slot] = undefined;
    // Its bucket, unless a newer entry of the same key took it over.
    const table = this.#table;
    const mask = this.#mask;
    let i = this.#lows[slot] & mask;
    for (;;) {
      const held = table[i * 2];
      if (held === 0) return;
      if (held === slot + 1) break;
      i = (i + 1) & mask;
    }
    this.#size--;
    // Backward-shift deletion: move later pairs of the probe run into the hole when their
    // home bucket is at or before it, so every probe still ends at the first empty bucket.
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const held = table[j * 2];
      if (held === 0) break;
      const home = table[j * 2 + 1] & mask;
      const between = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (between) continue;
      table[hole * 2] = held;
      table[hole * 2 + 1] = table[j * 2 + 1];
      hole = j;
    }
    table[hole * 2] = 0;
  }

  /**
   * Takes the hashes of `key` as computed by its maker from the parts it joins (key_hash.ts),
   * so the next `get` or `put` of this very string does not walk it.
   */
  hashed(key: string, low: number, high: number): void {
    this.#lastKey = key;
    this.#lastLow = low;
    this.#lastHigh = high;
  }

  /** Index in #table of the pair of the key hashed (low, high), or of the empty pair where it would go. */
  #find(low: number, high: number): number {
    const table = this.#table;
    const mask = this.#mask;
    let i = low & mask;
    for (;;) {
      const held = table[i * 2];
      if (held === 0) return i * 2;
      if (table[i * 2 + 1] === low && this.#highs[held - 1] === high) return i * 2;
      i = (i + 1) & mask;
    }
  }

  /** Sets #lastLow/#lastHigh to the hashes of `key` (remembered for the key seen last). */
  #hash(key: string): void {
    if (key === this.#lastKey) return;
    hashStart();
    hashText(key);
    this.#lastKey = key;
    this.#lastLow = hashLow();
    this.#lastHigh = hashHigh();
  }
}
