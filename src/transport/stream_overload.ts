/**
 * @module Overload shedding for stream connections (TCP, TLS, WS, WSS), the counterpart of
 * overload.ts's UDP receive-queue watch. A stream has no shared kernel queue to look at, so
 * "behind" is read from three cheap signals in this isolate (each worker has its own):
 * - the event loop is late: after a tick came `lagMs` late, the current turn has run `lagMs`
 *   past the 10 ms tick again, or ticks kept arriving that late for 250 ms (many busy
 *   connections at once);
 * - a connection's reads kept filling the read buffer for 250 ms (its peer sends faster than
 *   we process: the kernel holds a backlog we cannot see), or for 50 ms within a second of
 *   the last such backlog's shedding ending;
 * - the bytes accepted for writing on every connection and not yet written exceed a bound
 *   (peers do not read what we answer: each new call only adds to it).
 * The tick runs only while this thread's streams read (a read starts it; `IDLE_TICKS` ticks
 * without a read and with nothing held stop it), so an idle thread, or one serving only UDP,
 * is not woken 100 times a second: lateness matters only to stream messages, which a read
 * brings.
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
 * Once a connection's backlog has lasted SUSTAINED_MS, new work stays shed on every stream
 * until no connection has filled its read buffer for this long (one tick): while shedding,
 * reads get cheaper and the backlog shrinks. 10 ms rather than 50, 200 or 500: each hold that
 * outlasts the backlog leaves the server idle while it refuses calls it could serve, and the
 * quick re-entry below keeps the next admission short.
 */
const BACKLOG_HOLD_MS = 10;
/**
 * For this long after a hold ended, a backlog of RESUSTAINED_MS declares overload again
 * instead of SUSTAINED_MS: an offered rate past the limit refills the queue at once, and a
 * quarter second of admitting everything at 2× (or far more when the server gets little
 * CPU) queued seconds of follow-ups (ACKs, INVITEs with credentials, BYEs): a p50 of
 * seconds, calls unfinished and 1 GB held (docs/performance.md, "Shedding past the limit").
 */
const REENTRY_MS = 1000;
const RESUSTAINED_MS = 50;
/** Ticks in a row with no stream read (and nothing late or held) that stop the tick. */
const IDLE_TICKS = 10;
/** Bytes queued for writing on all connections past which the server is behind. */
export const WRITE_BACKLOG_BYTES = 32 * 1024 * 1024;

export class StreamLoadWatch {
  readonly #lagMs: number;
  #lastTick = performance.now();
  /** When ticks started arriving late (NaN: on time). */
  #lateSince = NaN;
  /** When a connection last reported a sustained read backlog. */
  #backlogAt = -Infinity;
  /** Shedding for a read backlog: until a tick finds none reported for BACKLOG_HOLD_MS. */
  #holding = false;
  /** When the last hold ended. */
  #releasedAt = -Infinity;
  /** The tick, while streams read (undefined: stopped). */
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Ticks in a row that found no read since the one before. */
  #idleTicks = 0;
  /** Never sheds (a lag bound of 0), or closed. */
  #off: boolean;

  /** `lagMs`: how late the event loop may run before new work is shed; 0 never sheds. */
  constructor(lagMs: number) {
    this.#lagMs = lagMs;
    this.#off = lagMs <= 0;
  }

  /**
   * True while new work arriving on a stream should be refused. Asked once per message: it
   * reads the clock only while ticks run late (the read-backlog hold ends on a tick).
   */
  behind(): boolean {
    if (this.#off) return false;
    if (this.#holding) return true;
    if (!Number.isNaN(this.#lateSince)) {
      // Late again in a turn that runs long, or late for a while: one stall (a GC pause, a
      // busy machine's scheduling delay) is neither.
      const now = performance.now();
      if (now - this.#lastTick > TICK_MS + this.#lagMs) return true;
      if (now - this.#lateSince >= SUSTAINED_MS) return true;
    }
    return queuedWriteBytes() > WRITE_BACKLOG_BYTES;
  }

  /**
   * What a connection calls after each read, with whether the read filled its buffer
   * (stream.ts, ws_connection.ts); undefined when nothing is ever shed.
   */
  reads(): ((full: boolean) => void) | undefined {
    if (this.#off) return undefined;
    /** Since when every read filled the buffer (NaN: the last one did not). */
    let fullSince = NaN;
    return (full) => {
      this.#idleTicks = 0;
      if (this.#timer === undefined) this.#start();
      if (!full) {
        fullSince = NaN;
        return;
      }
      const now = performance.now();
      if (Number.isNaN(fullSince)) fullSince = now;
      this.readBacklog(fullSince, now);
    };
  }

  /** A connection's reads have filled its buffer since `since` (performance.now()). */
  readBacklog(since: number, now: number): void {
    const sustain = now - this.#releasedAt < REENTRY_MS ? RESUSTAINED_MS : SUSTAINED_MS;
    if (this.#holding || now - since >= sustain) {
      this.#backlogAt = now;
      this.#holding = true;
      // The hold ends on a tick.
      if (this.#timer === undefined) this.#start();
    }
  }

  /** Whether the tick runs now (it wakes the thread 100 times a second). */
  get ticking(): boolean {
    return this.#timer !== undefined;
  }

  close(): void {
    this.#off = true;
    this.#stop();
  }

  #start(): void {
    if (this.#off) return;
    this.#lastTick = performance.now();
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
    Deno.unrefTimer(this.#timer);
  }

  #stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #tick(): void {
    const now = performance.now();
    const late = now - this.#lastTick - TICK_MS;
    this.#lastTick = now;
    if (this.#holding && now - this.#backlogAt >= BACKLOG_HOLD_MS) {
      this.#holding = false;
      this.#releasedAt = now;
    }
    if (late < this.#lagMs) this.#lateSince = NaN;
    else if (Number.isNaN(this.#lateSince)) this.#lateSince = now;
    // No read for IDLE_TICKS ticks: nothing to shed until the next read starts the tick.
    const calm = !this.#holding && Number.isNaN(this.#lateSince);
    if (calm && ++this.#idleTicks >= IDLE_TICKS) this.#stop();
  }
}
