/**
 * @module Per-source counts shared by every SIP worker of a process through one
 * SharedArrayBuffer: each source address's open connections and its requests in the
 * current one-second window, and the process's open connections. With several workers the
 * kernel spreads one address's connections over them (SO_REUSEPORT), so limits counted per
 * worker would give an address N times them; counted here they hold for the process.
 *
 * An open-addressed table (linear probing, backward-shift deletion) keyed by a 64-bit
 * fingerprint of the address, behind one spin lock: each operation holds it for a few
 * hundred nanoseconds and never awaits. The main thread creates it and sweeps it; workers
 * attach to its buffer. When it is full a new address is not counted (fail open) until the
 * sweep frees the stale ones: the per-connection limits still apply.
 */
import { type RateVerdict, rateVerdict, WITHIN } from "./rate_limiter.ts";

const LOCK = 0;
const OPEN = 1;
const USED = 2;
const META_INTS = 4;
/** Slots swept per lock hold, so workers never wait long for the sweep. */
const SWEEP_CHUNK = 4096;

/** Two independent 32-bit hashes of `host`; the second is odd, so a key is never (0, 0). */
function fingerprint(host: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  return [a | 0, (b | 1) | 0];
}

export class SourceTable {
  /** Created here (true: this thread sweeps) or attached to another thread's buffer. */
  readonly owner: boolean;
  readonly buffer: SharedArrayBuffer;
  #meta: Int32Array;
  /** Per slot: fingerprint high, low. */
  #keys: Int32Array;
  /** Per slot: open connections, requests in the window. */
  #counts: Int32Array;
  /** Per slot: start of the rate window (epoch ms). */
  #starts: Float64Array;
  #mask: number;
  #maxUsed: number;

  /** A table for `maxSources` addresses, or one attached to an existing `buffer`. */
  constructor(maxSources: number | SharedArrayBuffer) {
    this.owner = typeof maxSources === "number";
    let slots: number;
    if (typeof maxSources === "number") {
      slots = 2 ** Math.ceil(Math.log2(Math.max(16, maxSources * 4 / 3)));
      this.buffer = new SharedArrayBuffer(META_INTS * 4 + slots * 24);
    } else {
      this.buffer = maxSources;
      slots = (this.buffer.byteLength - META_INTS * 4) / 24;
    }
    this.#meta = new Int32Array(this.buffer, 0, META_INTS);
    this.#starts = new Float64Array(this.buffer, META_INTS * 4, slots);
    this.#keys = new Int32Array(this.buffer, META_INTS * 4 + slots * 8, slots * 2);
    this.#counts = new Int32Array(this.buffer, META_INTS * 4 + slots * 16, slots * 2);
    this.#mask = slots - 1;
    this.#maxUsed = Math.floor(slots * 3 / 4);
  }

  /** Connections open in the whole process. */
  get open(): number {
    return Atomics.load(this.#meta, OPEN);
  }

  /** Addresses tracked. */
  get size(): number {
    return Atomics.load(this.#meta, USED);
  }

  /** Counts one request from `host` at `now` against `limit` a second (window from its first). */
  hit(host: string, now: number, limit: number): RateVerdict {
    const [h1, h2] = fingerprint(host);
    this.#lock();
    const i = this.#find(h1, h2, true);
    if (i < 0) {
      this.#unlock();
      return WITHIN;
    }
    if (now - this.#starts[i] >= 1000) {
      this.#starts[i] = now;
      this.#counts[2 * i + 1] = 0;
    }
    const n = ++this.#counts[2 * i + 1];
    this.#unlock();
    return rateVerdict(n, limit);
  }

  /** Seconds until `host`'s window ends (for Retry-After); at least 1. */
  retryAfter(host: string, now: number): number {
    const start = this.#read(host, (i) => this.#starts[i]);
    return start === undefined ? 1 : Math.max(1, Math.ceil((start + 1000 - now) / 1000));
  }

  /** Connections open from `host` in the whole process. */
  connections(host: string): number {
    return this.#read(host, (i) => this.#counts[2 * i]) ?? 0;
  }

  opened(host: string): void {
    const [h1, h2] = fingerprint(host);
    this.#lock();
    this.#meta[OPEN]++;
    const i = this.#find(h1, h2, true);
    if (i >= 0) this.#counts[2 * i]++;
    this.#unlock();
  }

  closed(host: string): void {
    const [h1, h2] = fingerprint(host);
    this.#lock();
    if (this.#meta[OPEN] > 0) this.#meta[OPEN]--;
    const i = this.#find(h1, h2, false);
    if (i >= 0 && this.#counts[2 * i] > 0) this.#counts[2 * i]--;
    this.#unlock();
  }

  /** Frees addresses with no connection whose window ended more than a second ago. */
  sweep(now: number): void {
    for (let from = 0; from <= this.#mask; from += SWEEP_CHUNK) {
      this.#lock();
      const to = Math.min(from + SWEEP_CHUNK, this.#mask + 1);
      for (let i = from; i < to; i++) {
        // A deletion shifts a later entry into slot i: look at it again.
        while (
          this.#keys[2 * i + 1] !== 0 && this.#counts[2 * i] === 0 &&
          now - this.#starts[i] >= 2000
        ) this.#delete(i);
      }
      this.#unlock();
    }
  }

  #read(host: string, get: (slot: number) => number): number | undefined {
    const [h1, h2] = fingerprint(host);
    this.#lock();
    const i = this.#find(h1, h2, false);
    const value = i < 0 ? undefined : get(i);
    this.#unlock();
    return value;
  }

  #lock(): void {
    while (Atomics.compareExchange(this.#meta, LOCK, 0, 1) !== 0) { /* held a few ns */ }
  }

  #unlock(): void {
    Atomics.store(this.#meta, LOCK, 0);
  }

  /** The slot of (h1, h2); with `insert`, a new empty one unless the table is full. */
  #find(h1: number, h2: number, insert: boolean): number {
    const keys = this.#keys;
    for (let i = h1 & this.#mask;; i = (i + 1) & this.#mask) {
      if (keys[2 * i] === h1 && keys[2 * i + 1] === h2) return i;
      if (keys[2 * i + 1] !== 0) continue;
      if (!insert || this.#meta[USED] >= this.#maxUsed) return -1;
      keys[2 * i] = h1;
      keys[2 * i + 1] = h2;
      this.#counts[2 * i] = 0;
      this.#counts[2 * i + 1] = 0;
      this.#starts[i] = 0;
      this.#meta[USED]++;
      return i;
    }
  }

  /** Empties slot `hole`, moving back later entries of its probe run that may fill it. */
  #delete(hole: number): void {
    const keys = this.#keys;
    const mask = this.#mask;
    for (let j = (hole + 1) & mask; keys[2 * j + 1] !== 0; j = (j + 1) & mask) {
      const home = keys[2 * j] & mask;
      if (((j - home) & mask) < ((j - hole) & mask)) continue;
      keys[2 * hole] = keys[2 * j];
      keys[2 * hole + 1] = keys[2 * j + 1];
      this.#counts[2 * hole] = this.#counts[2 * j];
      this.#counts[2 * hole + 1] = this.#counts[2 * j + 1];
      this.#starts[hole] = this.#starts[j];
      hole = j;
    }
    keys[2 * hole] = 0;
    keys[2 * hole + 1] = 0;
    this.#meta[USED]--;
  }
}
