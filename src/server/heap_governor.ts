/**
 * @module Keeps V8's heap near a fixed budget by design instead of V8's growing factor. After
 * each mark-compact V8 lets old space grow to up to ~4× what survived it before the next, so
 * a mark-compact that happens while a cold start's backlog is live lets the heap reach 4× that
 * backlog long after it drained, growing for a minute or more with no mark-compact (the
 * 180-200 MB REGISTER outliers of issue 9, docs/performance.md). On a slow timer the governor
 * reads the heap in use and old space's (`node:v8` space statistics, ~50 µs); old space
 * shrinking means a mark-compact ran. Once the heap in use exceeds the budget with no
 * mark-compact for `QUIET_MS` of its thread's CPU time, it runs a full collection itself
 * (`gc()`, exposed by `--expose-gc` in src/cli/v8_flags.ts). A load that keeps V8 compacting
 * on its own (calls, whose state lives 32 s) is left to V8: a lower factor there costs CPU per
 * call. Time is the isolate's thread's CPU time (`cpuMs`), not the wall clock: a starved
 * process's wall-clock seconds hold little work, and an idle one's none. What it may spend is
 * capped too: after a collection that took `t` ms of CPU the next waits at least `t / DUTY`
 * (at most 1 % of the thread's CPU), and after one that freed less than a quarter of the heap
 * (what is live is past the budget) the wait doubles, up to `MAX_BACKOFF_MS`, until one frees
 * more. Without an exposed `gc` (a server started in process by a test) it does nothing.
 */
import process from "node:process";
import v8 from "node:v8";

/** What the governor reads and calls; the defaults are the isolate's own. */
export interface HeapGovernorOptions {
  /** Heap in use (bytes) past which a collection is forced. */
  budgetBytes?: number;
  /** How often the heap is read, ms. */
  intervalMs?: number;
  /** Heap in use and old space's share of it, bytes. */
  heap?: () => HeapReading;
  /** A full, synchronous collection; undefined: the governor is off. */
  collect?: () => void;
  /** The clock, ms: the process's CPU time by default. */
  now?: () => number;
}

/** One reading of the heap, bytes. */
export interface HeapReading {
  used: number;
  /** Old space and large objects: only a mark-compact makes it shrink. */
  old: number;
}

/**
 * 36 MiB in use: at the 25,000-30,000/s REGISTER steps a mark-compact leaves 15-27 MB, V8's
 * pages hold ~16 MB more than is in use (new space is committed whole), and the rest of the
 * RSS (the binary's pages, the ring and nonce slots, malloc arenas) is ~80-100 MB, so this
 * keeps the peak near 150 MB (48 MiB gave 64 MB of heap pages and 162 MB; bench/cli_memory.ts).
 */
export const HEAP_BUDGET_BYTES = 36 * 1024 * 1024;
/** Heap read every quarter second: at 30,000 REGISTER/s old space grows < 1 MB in that time. */
export const HEAP_CHECK_MS = 250;
/**
 * Past the budget, a collection is forced once no mark-compact ran for this much CPU time, ms
 * (calls in process: one every ~1 s of CPU; the cold-start outlier: none for a minute).
 */
export const QUIET_MS = 3000;
/** Share of the process's CPU time forced collections may take at most. */
export const DUTY = 0.01;
/** A collection that freed less than this share of the heap in use was of little use. */
export const USEFUL_SHARE = 0.25;
/** The first wait after a collection of little use, doubled after each further one, ms. */
export const MIN_BACKOFF_MS = 1000;
/** The longest wait after collections of little use, ms (a live heap past the budget). */
export const MAX_BACKOFF_MS = 32_000;
/** Old space shrinking by more than this between readings: a mark-compact ran. */
const SHRINK_BYTES = 1024 * 1024;

/** The isolate's `gc` when `--expose-gc` is set. */
export function exposedGc(): (() => void) | undefined {
  const gc = (globalThis as { gc?: () => void }).gc;
  return typeof gc === "function" ? () => gc() : undefined;
}

/**
 * This thread's CPU time (user and system), ms; the process's where Deno lacks
 * `threadCpuUsage`. The thread's, because each isolate (each SIP worker's) governs its own
 * heap: on the process's clock, which every thread advances, an isolate of a 2-worker server
 * saw its own mark-compacts 2-3x further apart and forced most of them under calls, each
 * dropping ~100 optimized functions ("embedded weak objects cleared") to be compiled again
 * (docs/workers.md, "Why a worker thread's call costs more").
 */
export function cpuMs(): number {
  const p = process as { threadCpuUsage?: () => { user: number; system: number } };
  const { user, system } = p.threadCpuUsage?.() ?? process.cpuUsage();
  return (user + system) / 1000;
}

/** This isolate's heap in use and old space's part, from V8's space statistics. */
export function readHeap(): HeapReading {
  let used = 0;
  let old = 0;
  for (const space of v8.getHeapSpaceStatistics()) {
    used += space.space_used_size;
    if (space.space_name === "old_space" || space.space_name === "large_object_space") {
      old += space.space_used_size;
    }
  }
  return { used, old };
}

/** Decides when to collect; separate from the timer so it can be driven in a unit test. */
export class HeapGovernor {
  readonly #budget: number;
  readonly #heap: () => HeapReading;
  readonly #collect: () => void;
  readonly #now: () => number;
  /** Old space at the last reading, bytes. */
  #old = 0;
  /** When a mark-compact was last seen or forced, ms. */
  #compacted: number;
  /** Wait after the last collection of little use, ms (0: the last one was useful). */
  #backoff = 0;
  /** Before this (ms) no collection is forced: the duty-cycle cap and the back-off. */
  #notBefore = 0;
  /** Collections forced so far. */
  collections = 0;

  constructor(collect: () => void, options: HeapGovernorOptions = {}) {
    this.#collect = collect;
    this.#budget = options.budgetBytes ?? HEAP_BUDGET_BYTES;
    this.#heap = options.heap ?? readHeap;
    this.#now = options.now ?? cpuMs;
    this.#compacted = this.#now();
  }

  /** One reading: collects when past the limit and allowed; true if it collected. */
  check(): boolean {
    const before = this.#heap();
    const start = this.#now();
    if (before.old < this.#old - SHRINK_BYTES) this.#compacted = start;
    this.#old = before.old;
    if (before.used <= this.#budget || start - this.#compacted < QUIET_MS) return false;
    if (start < this.#notBefore) return false;
    this.#collect();
    const end = this.#now();
    const after = this.#heap();
    this.#old = after.old;
    this.#compacted = end;
    const useful = before.used - after.used >= before.used * USEFUL_SHARE;
    this.#backoff = useful ? 0 : Math.min(MAX_BACKOFF_MS, 2 * this.#backoff || MIN_BACKOFF_MS);
    this.#notBefore = end + Math.max((end - start) / DUTY, this.#backoff);
    this.collections++;
    return true;
  }
}

/** Starts the governor on its timer (not keeping the process alive); the function stops it. */
export function startHeapGovernor(options: HeapGovernorOptions = {}): () => void {
  const collect = "collect" in options ? options.collect : exposedGc();
  if (collect === undefined) return () => {};
  const governor = new HeapGovernor(collect, options);
  const timer = setInterval(() => governor.check(), options.intervalMs ?? HEAP_CHECK_MS);
  Deno.unrefTimer(timer);
  return () => clearInterval(timer);
}
