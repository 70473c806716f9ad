/**
 * @module Per-source counts shared by every SIP worker of a process through one
 * SharedArrayBuffer: each source address's open connections, its requests in the current
 * one-second window, its failed authentications in the current ban window and its last
 * successful one, and the process's open connections. With several workers the kernel
 * spreads one address's connections over them (SO_REUSEPORT), so limits counted per worker
 * would give an address N times them; counted here they hold for the process, and the
 * thread that reads the failure that bans an address sees it at once (abuse_guard.ts).
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
/** Bytes per slot: three Float64 (rate window, failure window, last success), five Int32. */
const SLOT_BYTES = 44;
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
  /** Per slot: open connections, requests in the window, failures in the failure window. */
  #counts: Int32Array;
  /** Per slot: start of the rate window (epoch ms). */
  #starts: Float64Array;
  /** Per slot: start of the failure window (epoch ms). */
  #failedSince: Float64Array;
  /** Per slot: the last successful authentication (epoch ms; 0: none). */
  #goodAt: Float64Array;
  #mask: number;
  #maxUsed: number;

  /** A table for `maxSources` addresses, or one attached to an existing `buffer`. */
  constructor(maxSources: number | SharedArrayBuffer) {
    this.owner = typeof maxSources === "number";
    let slots: number;
    if (typeof maxSources === "number") {
      slots = 2 ** Math.ceil(Math.log2(Math.max(16, maxSources * 4 / 3)));
      this.buffer = new SharedArrayBuffer(META_INTS * 4 + slots * SLOT_BYTES);
    } else {
      this.buffer = maxSources;
      slots = (this.buffer.byteLength - META_INTS * 4) / SLOT_BYTES;
    }
    const at = META_INTS * 4;
    this.#meta = new Int32Array(this.buffer, 0, META_INTS);
    this.#starts = new Float64Array(this.buffer, at, slots);
    this.#failedSince = new Float64Array(this.buffer, at + slots * 8, slots);
    this.#goodAt = new Float64Array(this.buffer, at + slots * 16, slots);
    this.#keys = new Int32Array(this.buffer, at + slots * 24, slots * 2);
    this.#counts = new Int32Array(this.buffer, at + slots * 32, slots * 3);
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
      this.#counts[3 * i + 1] = 0;
    }
    const n = ++this.#counts[3 * i + 1];
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
    return this.#read(host, (i) => this.#counts[3 * i]) ?? 0;
  }

  opened(host: string): void {
    const [h1, h2] = fingerprint(host);
    this.#lock();
    this.#meta[OPEN]++;
    const i = this.#find(h1, h2, true);
    if (i >= 0) this.#counts[3 * i]++;
    this.#unlock();
  }

  closed(host: string): void {
    const [h1, h2] = fingerprint(host);
    this.#lock();
    if (this.#meta[OPEN] > 0) this.#meta[OPEN]--;
    const i = this.#find(h1, h2, false);
    if (i >= 0 && this.#counts[3 * i] > 0) this.#counts[3 * i]--;
    this.#unlock();
  }

  /**
   * Counts one failed authentication from `host` at `now` in its failure window (`windowMs`
   * from the window's first failure). True for the one failure, in the whole process, that
   * bans the address: `banAfter` in the window and no success from it in the last `goodMs`
   * (the count starts again then). When the table is full, false (fail open).
   */
  failed(host: string, now: number, windowMs: number, banAfter: number, goodMs: number): boolean {
    const [h1, h2] = fingerprint(host);
    this.#lock();
    const i = this.#find(h1, h2, true);
    let bans = false;
    if (i >= 0) {
      if (this.#counts[3 * i + 2] === 0 || now - this.#failedSince[i] >= windowMs) {
        this.#failedSince[i] = now;
        this.#counts[3 * i + 2] = 0;
      }
      const n = ++this.#counts[3 * i + 2];
      const good = this.#goodAt[i];
      bans = n >= banAfter && !(good !== 0 && good > now - goodMs);
      if (bans) this.#counts[3 * i + 2] = 0;
    }
    this.#unlock();
    return bans;
  }

  /** A successful authentication from `host` at `now`. */
  succeeded(host: string, now: number): void {
    const [h1, h2] = fingerprint(host);
    this.#lock();
    const i = this.#find(h1, h2, true);
    if (i >= 0) this.#goodAt[i] = now;
    this.#unlock();
  }

  /** When `host` last authenticated (epoch ms; -Infinity: never, or forgotten). */
  goodAt(host: string): number {
    return this.#read(host, (i) => this.#goodAt[i] || -Infinity) ?? -Infinity;
  }

  /** Forgets `host`'s failures (an operator lifted its ban). */
  forgetFailures(host: string): void {
    const [h1, h2] = fingerprint(host);
    this.#lock();
    const i = this.#find(h1, h2, false);
    if (i >= 0) this.#counts[3 * i + 2] = 0;
    this.#unlock();
  }

  /**
   * Frees addresses with no connection whose rate window ended more than a second ago, whose
   * failure window (`windowMs`) is over and whose last success is older than `goodMs`; past
   * half the table, a success no longer keeps an address (rate windows and failures need
   * the room more than known-good sources, which their next success records again).
   */
  sweep(now: number, windowMs = 0, goodMs = 0): void {
    const keepGood = Atomics.load(this.#meta, USED) > this.#maxUsed / 2 ? 0 : goodMs;
    for (let from = 0; from <= this.#mask; from += SWEEP_CHUNK) {
      this.#lock();
      const to = Math.min(from + SWEEP_CHUNK, this.#mask + 1);
      for (let i = from; i < to; i++) {
        // A deletion shifts a later entry into slot i: look at it again.
        while (
          this.#keys[2 * i + 1] !== 0 && this.#counts[3 * i] === 0 &&
          now - this.#starts[i] >= 2000 &&
          (this.#counts[3 * i + 2] === 0 || now - this.#failedSince[i] >= windowMs) &&
          now - this.#goodAt[i] >= keepGood
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
      this.#counts[3 * i] = 0;
      this.#counts[3 * i + 1] = 0;
      this.#counts[3 * i + 2] = 0;
      this.#starts[i] = 0;
      this.#failedSince[i] = 0;
      this.#goodAt[i] = 0;
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
      this.#counts[3 * hole] = this.#counts[3 * j];
      this.#counts[3 * hole + 1] = this.#counts[3 * j + 1];
      this.#counts[3 * hole + 2] = this.#counts[3 * j + 2];
      this.#failedSince[hole] = this.#failedSince[j];
      this.#goodAt[hole] = this.#goodAt[j];
      this.#starts[hole] = this.#starts[j];
      hole = j;
    }
    keys[2 * hole] = 0;
    keys[2 * hole + 1] = 0;
    this.#meta[USED]--;
  }
}
