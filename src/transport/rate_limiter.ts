/**
 * @module Requests-per-second counting for the abuse guard (pike-like): one fixed
 * one-second window per key (a source address or a connection id). It decides only
 * "within the limit", "over it: answer 503" or "far over it: drop", so a flood never makes
 * the server send more than `limit` refusals a second per key. Bounded: the table holds
 * at most `maxKeys` windows; an entry is moved to the end whenever its window rolls over,
 * so the first entries are always the stalest and go first (bounded_map.ts).
 */
import { makeRoom } from "./bounded_map.ts";

interface Window {
  start: number;
  count: number;
  /** Computed once per entry: a trusted source is never counted again. */
  exempt: boolean;
}

export const WITHIN = 0;
export const OVER_ANSWER = 1;
export const OVER_DROP = 2;
export type RateVerdict = typeof WITHIN | typeof OVER_ANSWER | typeof OVER_DROP;

/** The verdict for the `n`th request of a window: over the limit 503, over twice it drop. */
export function rateVerdict(n: number, limit: number): RateVerdict {
  if (n <= limit) return WITHIN;
  return n <= 2 * limit ? OVER_ANSWER : OVER_DROP;
}

export class RateLimiter {
  #windows = new Map<string, Window>();
  #maxKeys: number;
  limit: number;

  constructor(limit: number, maxKeys: number) {
    this.limit = limit;
    this.#maxKeys = maxKeys;
  }

  get size(): number {
    return this.#windows.size;
  }

  /** Counts one request for `key` at `now` (ms); `exempt` is asked only for a new key. */
  hit(key: string, now: number, exempt: (key: string) => boolean): RateVerdict {
    let w = this.#windows.get(key);
    if (w === undefined) {
      makeRoom(this.#windows, this.#maxKeys);
      w = { start: now, count: 0, exempt: exempt(key) };
      this.#windows.set(key, w);
    } else if (now - w.start >= 1000) {
      w.start = now;
      w.count = 0;
      // Re-inserted so the map stays ordered by window start (stalest first).
      this.#windows.delete(key);
      this.#windows.set(key, w);
    }
    if (w.exempt) return WITHIN;
    return rateVerdict(++w.count, this.limit);
  }

  /** Seconds until `key`'s window ends (for Retry-After); at least 1. */
  retryAfter(key: string, now: number): number {
    const w = this.#windows.get(key);
    return w ? Math.max(1, Math.ceil((w.start + 1000 - now) / 1000)) : 1;
  }

  forget(key: string): void {
    this.#windows.delete(key);
  }

  /** Drops windows that ended more than a second ago: O(stale entries). */
  sweep(now: number): void {
    for (const [key, w] of this.#windows) {
      if (now - w.start < 2000) return;
      this.#windows.delete(key);
    }
  }

  /** Forgets every cached exemption (the trusted list changed). */
  clear(): void {
    this.#windows.clear();
  }
}
