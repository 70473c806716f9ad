/**
 * @module Admission by memory: past a budget of resident memory (the process's RSS, read from
 * /proc/self/statm every 250 ms, a few µs), new work is shed until it falls back under 90 % of
 * the budget. The transport layer reads `over` for each message it delivers and, while it is
 * set, answers requests that start new work (REGISTER, INVITE, ... without credentials, outside
 * a dialog) with 503 + Retry-After before parsing, as it does when the UDP receive queue or the
 * event loop is behind (transport/overload.ts, stream_overload.ts); in-progress transactions
 * and dialogs go on. The receive-queue and lateness signals see a backlog by its time; this
 * one sees what any backlog, anywhere, costs in memory, so what a CPU-starved server keeps live
 * (a failing step's retransmissions, what completed registrations and calls keep for 32 s) is
 * bounded by design, whatever the GC does. While past the budget it also collects (`gc()`
 * when exposed, at most every `OVER_COLLECT_MS` and within 10 % of the time) and trims: once
 * what was live dies, V8 and malloc give its pages back and shedding stops, load or no load
 * (the heap governor's clock is CPU time, which an idle server does not spend).
 * The same reading returns glibc's freed memory to the OS: malloc keeps the high-water mark of
 * its arenas (the main arena was seen at 114-137 MB after a starved peak, docs/performance.md),
 * so when the part of RSS outside V8's heap has grown `TRIM_EXCESS` past the least seen (or
 * what the last trim left), at most every `TRIM_EVERY_MS` and within 1 % of the time,
 * `malloc_trim(0)` hands the free pages of every arena back.
 */
import v8 from "node:v8";
import { exposedGc } from "./heap_governor.ts";
import { Logger } from "../log.ts";

const log = new Logger("server");
const MiB = 1024 * 1024;

/** How often the RSS is read, ms. */
export const MEMORY_CHECK_MS = 250;
/** Shedding stops once the RSS is back under this share of the budget. */
export const RESUME_SHARE = 0.9;
/** Native memory (RSS less V8's heap) this far past the least seen: trim malloc's arenas. */
export const TRIM_EXCESS = 32 * 1024 * 1024;
/** Between two trims at least this long, ms (of the wall clock: a drop in load is timed so). */
export const TRIM_EVERY_MS = 10_000;
/** Share of the time trims may take at most. */
const TRIM_DUTY = 0.01;
/** While past the budget, a collection and a trim at most this often, ms. */
export const OVER_COLLECT_MS = 2000;
/** Share of the time those collections may take at most. */
const OVER_COLLECT_DUTY = 0.1;

/** What the guard reads and calls; the defaults are the process's own. */
export interface MemoryGuardOptions {
  /** Resident memory, bytes. */
  rss?: () => number;
  /** V8's heap, committed, bytes (its pages count in RSS but are not malloc's). */
  heap?: () => number;
  /** Gives freed malloc memory back to the OS; undefined: not available. */
  trim?: () => void;
  /** A full, synchronous collection; undefined: none (V8 collects on its own). */
  collect?: () => void;
  /** The clock, ms. */
  now?: () => number;
}

/** Shedding state by memory, as the transport layer reads it for each message. */
export class MemoryGuard {
  /** Past the budget: new work is shed. */
  over = false;
  /** Trims done so far. */
  trims = 0;
  readonly #budget: number;
  readonly #rss: () => number;
  readonly #heap: () => number;
  readonly #trim: (() => void) | undefined;
  readonly #collect: (() => void) | undefined;
  readonly #now: () => number;
  /** The least native memory seen (RSS less V8's heap), bytes. */
  #nativeLow = Infinity;
  #notBefore = -Infinity;
  /** Before this (ms) no collection is made while over. */
  #collectNotBefore = -Infinity;

  /** `budgetBytes`: RSS past which new work is shed (0: never; trimming still runs). */
  constructor(budgetBytes: number, options: MemoryGuardOptions = {}) {
    this.#budget = budgetBytes;
    this.#rss = options.rss ?? readRss;
    this.#heap = options.heap ?? committedHeap;
    this.#trim = "trim" in options ? options.trim : mallocTrim();
    this.#collect = "collect" in options ? options.collect : exposedGc();
    this.#now = options.now ?? performance.now.bind(performance);
  }

  /** One reading: updates `over`, collects and trims when due. */
  check(): void {
    let rss = this.#rss();
    if (this.#budget > 0) {
      if (rss > this.#budget) this.#set(true, rss);
      else if (rss <= this.#budget * RESUME_SHARE) this.#set(false, rss);
    }
    if (this.over && this.#now() >= this.#collectNotBefore) rss = this.#release();
    if (this.#trim === undefined) return;
    const native = rss - this.#heap();
    this.#nativeLow = Math.min(this.#nativeLow, native);
    const now = this.#now();
    if (native - this.#nativeLow < TRIM_EXCESS || now < this.#notBefore) return;
    this.#trim();
    const took = this.#now() - now;
    this.#notBefore = now + Math.max(TRIM_EVERY_MS, took / TRIM_DUTY);
    this.trims++;
    // What a trim leaves is in use (the ring, thread stacks, live buffers): the next trim
    // waits for as much again on top of it.
    this.#nativeLow = this.#rss() - this.#heap();
  }

  /** Past the budget: collects and trims, so dead memory is not what keeps shedding on. */
  #release(): number {
    const start = this.#now();
    this.#collect?.();
    this.#trim?.();
    const took = this.#now() - start;
    this.#collectNotBefore = start + Math.max(OVER_COLLECT_MS, took / OVER_COLLECT_DUTY);
    const rss = this.#rss();
    if (rss <= this.#budget * RESUME_SHARE) this.#set(false, rss);
    return rss;
  }

  /** One log line when shedding starts and one when it stops. */
  #set(over: boolean, rss: number): void {
    if (over === this.over) return;
    this.over = over;
    const at = `RSS ${Math.round(rss / MiB)} MiB, budget ${Math.round(this.#budget / MiB)} MiB`;
    if (over) log.warn(`memory past its budget (${at}): new requests get 503 until it is back`);
    else log.info(`memory back under its budget (${at}): new requests admitted again`);
  }
}

let pageBytes: number | undefined;

/** The process's resident memory, bytes (/proc/self/statm's second field); 0 if unknown. */
export function readRss(): number {
  let statm: Uint8Array;
  try {
    statm = Deno.readFileSync("/proc/self/statm"); // not kept open: one read 4 times a second
  } catch {
    return 0; // not Linux, or no read permission
  }
  pageBytes ??= Number(libc()?.sysconf(SC_PAGESIZE) ?? 0) || 4096;
  // "size resident shared text lib data dt", in pages.
  let i = 0;
  while (i < statm.length && statm[i] !== 32) i++;
  let pages = 0;
  for (i++; i < statm.length && statm[i] !== 32; i++) pages = pages * 10 + statm[i] - 48;
  return pages * pageBytes;
}

/** V8's heap pages of this isolate, bytes. */
function committedHeap(): number {
  return v8.getHeapStatistics().total_heap_size;
}

const SC_PAGESIZE = 30;
type Libc = { sysconf(name: number): number | bigint; malloc_trim(pad: number): number };
let lib: Libc | null | undefined;

function libc(): Libc | null {
  if (lib !== undefined) return lib;
  try {
    lib = Deno.dlopen("libc.so.6", {
      sysconf: { parameters: ["i32"], result: "i64" },
      malloc_trim: { parameters: ["usize"], result: "i32" },
    }).symbols as unknown as Libc;
  } catch {
    lib = null; // not glibc, or no --allow-ffi
  }
  return lib;
}

/** glibc's `malloc_trim(0)`, when libc is reachable through FFI. */
export function mallocTrim(): (() => void) | undefined {
  const c = libc();
  return c ? () => void c.malloc_trim(0) : undefined;
}

/** Runs `guard` on its timer (not keeping the process alive); the function stops it. */
export function watchMemory(guard: MemoryGuard, intervalMs = MEMORY_CHECK_MS): () => void {
  guard.check();
  const timer = setInterval(() => guard.check(), intervalMs);
  Deno.unrefTimer(timer);
  return () => clearInterval(timer);
}
