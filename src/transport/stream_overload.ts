/**
 * @module Overload shedding for stream connections (TCP, TLS, WS, WSS), the counterpart of
 * overload.ts's UDP receive-queue watch. A stream has no shared kernel queue to look at, so
 * "behind" is read from three cheap signals in this isolate (each worker has its own):
 * - reads that fill the read buffer: each found at least that much waiting in the kernel,
 *   our depth sample. Once some connection's reads have kept filling it for 250 ms (its peer
 *   sends faster than we serve), overload is declared, and until no read has filled it for
 *   500 ms every read updates the decision, as overload.ts's samples do: new work is refused
 *   while the latest read of any connection filled its buffer, admitted once every
 *   connection's latest read found less. So a share of new work is refused, what keeps each
 *   kernel backlog about one buffer deep: the server stays busy and requests wait
 *   milliseconds, not seconds. Any connection, not only the one new work arrives on: a call
 *   admitted from a short queue adds to the deep one its answers come back on. (Refusing all
 *   new work for 500 ms once a backlog had lasted 250 ms left the server idle between holds:
 *   a 2x call overload kept 0.54-0.79 of capacity; bench/RESULTS.md.)
 * - the event loop is late: after a tick came `lagMs` late, the current turn has run `lagMs`
 *   past the 10 ms tick again, or ticks kept arriving that late for 250 ms (many busy
 *   connections at once);
 * - the bytes accepted for writing on every connection and not yet written exceed a bound
 *   (peers do not read what we answer: each new call only adds to it).
 * While behind, requests that start new work are refused with 503 + Retry-After built from
 * their raw bytes (overload.ts `refusal503`); in-dialog requests, requests with credentials
 * and responses go through, so what was started completes. Memory stays bounded because a
 * connection also stops reading while writes queue up (stream.ts).
 */
import { queuedWriteBytes } from "./write_queue.ts";

/** How often the event loop's lateness is sampled. */
const TICK_MS = 10;
/** How long a backlog must last before it counts (a GC pause is not overload). */
const SUSTAINED_MS = 250;
/**
 * Once declared, overload lasts until no connection has filled its read buffer for this long:
 * a rate above capacity fills one within milliseconds whenever new work is admitted, and
 * having to last SUSTAINED_MS again before shedding would let a quarter second of excess in.
 */
const CALM_MS = 500;
/**
 * A connection whose latest read filled its buffer counts as deep only this long after the
 * latest full read of any: its next read may wait for data that never comes (the peer sent
 * exactly a buffer, then stopped), which is no backlog.
 */
const STALE_MS = 100;
/** Bytes queued for writing on all connections past which the server is behind. */
export const WRITE_BACKLOG_BYTES = 32 * 1024 * 1024;

/** A connection's reads, as the watch hears of them (`StreamLoadWatch.connection`). */
export interface ReadDepth {
  read(full: boolean, now?: number): void;
  closed(): void;
}

export class StreamLoadWatch {
  readonly #lagMs: number;
  #lastTick = performance.now();
  /** When ticks started arriving late (NaN: on time). */
  #lateSince = NaN;
  /** Overload declared: when a read last filled its buffer (-Infinity: not declared). */
  #backlogAt = -Infinity;
  /** Connections whose latest read filled their buffer. */
  #deep = 0;
  readonly #timer: ReturnType<typeof setInterval> | undefined;

  /** `lagMs`: how late the event loop may run before new work is shed; 0 never sheds. */
  constructor(lagMs: number) {
    this.#lagMs = lagMs;
    if (lagMs <= 0) return;
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
    Deno.unrefTimer(this.#timer);
  }

  /** True while new work arriving on a stream should be refused. */
  behind(now = performance.now()): boolean {
    if (this.#timer === undefined) return false;
    if (!Number.isNaN(this.#lateSince)) {
      // Late again in a turn that runs long, or late for a while: one stall (a GC pause, a
      // busy machine's scheduling delay) is neither.
      if (now - this.#lastTick > TICK_MS + this.#lagMs) return true;
      if (now - this.#lateSince >= SUSTAINED_MS) return true;
    }
    if (this.#deep > 0 && now - this.#backlogAt < STALE_MS) return true;
    return queuedWriteBytes() > WRITE_BACKLOG_BYTES;
  }

  /**
   * What a connection reports of its reads (stream.ts); undefined when nothing is ever shed.
   * `read(full)` before the read's messages are delivered: whether it filled the buffer.
   * `closed()` once it reads no more.
   */
  connection(): ReadDepth | undefined {
    if (this.#timer === undefined) return undefined;
    /** Since when every read filled the buffer (NaN: the latest one did not). */
    let fullSince = NaN;
    const caughtUp = () => {
      if (Number.isNaN(fullSince)) return;
      fullSince = NaN;
      this.#deep--;
    };
    return {
      read: (full, now) => {
        if (!full) return caughtUp();
        now ??= performance.now();
        if (Number.isNaN(fullSince)) {
          fullSince = now;
          this.#deep++;
        }
        if (now - fullSince >= SUSTAINED_MS || now - this.#backlogAt < CALM_MS) {
          this.#backlogAt = now;
        }
      },
      closed: caughtUp,
    };
  }

  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
  }

  #tick(): void {
    const now = performance.now();
    const late = now - this.#lastTick - TICK_MS;
    this.#lastTick = now;
    if (late < this.#lagMs) this.#lateSince = NaN;
    else if (Number.isNaN(this.#lateSince)) this.#lateSince = now;
  }
}
