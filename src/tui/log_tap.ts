/**
 * @module The Log pane's feed: a `LogSink` that keeps the last N records in a ring buffer.
 * The sink only stores (O(1), no rendering, no allocation beyond the record) so a log line
 * on the SIP path costs the same with the dashboard on; the UI reads `since()`/`tail()` on
 * its own timer. Level filtering for display lives here too, as a pure function.
 */
import type { LogLevel, LogRecord, LogSink } from "../log.ts";

const SEVERITY: Record<LogLevel, number> = { fatal: 0, error: 1, warn: 2, info: 3, debug: 4 };

/** True when `record` is at least as severe as `min`. */
export function atLeast(level: LogLevel, min: LogLevel): boolean {
  return SEVERITY[level] <= SEVERITY[min];
}

/** The next, less severe display threshold (debug wraps to error). */
export function nextLevel(min: LogLevel): LogLevel {
  const order: LogLevel[] = ["debug", "info", "warn", "error"];
  const at = order.indexOf(min);
  return order[(at + 1) % order.length];
}

/** One line of the Log pane. */
export function formatLogLine(r: LogRecord): string {
  const t = r.time.toISOString().slice(11, 23);
  return `${t} ${r.level.toUpperCase().padEnd(5)} [${r.component}] ${r.message}`;
}

export class LogTap {
  readonly capacity: number;
  #ring: LogRecord[] = [];
  #start = 0;
  /** Records ever written (the UI compares it to know whether to redraw). */
  written = 0;
  readonly sink: LogSink;

  constructor(capacity = 2000) {
    this.capacity = capacity;
    this.sink = (record) => this.push(record);
  }

  push(record: LogRecord): void {
    if (this.#ring.length < this.capacity) this.#ring.push(record);
    else {
      this.#ring[this.#start] = record;
      this.#start = (this.#start + 1) % this.capacity;
    }
    this.written++;
  }

  /** Every kept record, oldest first. */
  records(): LogRecord[] {
    return [...this.#ring.slice(this.#start), ...this.#ring.slice(0, this.#start)];
  }

  get size(): number {
    return this.#ring.length;
  }
}
