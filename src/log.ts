/**
 * @module Logging for every layer: level, time, component, message; text or JSON lines.
 * The sink is replaceable (stderr in the foreground, syslog/file in daemon mode, the TUI's
 * log pane). Levels follow the seed's -v count: 0 fatal, 1 error, 2 warning, 3 debug.
 * Callers must never pass passwords or HA1s.
 */

export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug";

const RANK: Record<LogLevel, number> = { fatal: 0, error: 1, warn: 2, info: 3, debug: 3 };

export interface LogRecord {
  level: LogLevel;
  time: Date;
  component: string;
  message: string;
}

export type LogSink = (record: LogRecord, line: string) => void;

interface LogState {
  verbosity: number;
  format: "text" | "json";
  sinks: LogSink[];
}

const encoder = new TextEncoder();
const stderrSink: LogSink = (_r, line) => Deno.stderr.writeSync(encoder.encode(line + "\n"));
const state: LogState = { verbosity: 0, format: "text", sinks: [stderrSink] };

export function configureLog(options: Partial<LogState>): void {
  Object.assign(state, options);
}

export function formatRecord(record: LogRecord, format: "text" | "json"): string {
  if (format === "json") {
    return JSON.stringify({
      level: record.level,
      time: record.time.toISOString(),
      component: record.component,
      message: record.message,
    });
  }
  return `${record.level.toUpperCase().padEnd(5)} ${record.time.toISOString()} [${record.component}] ${record.message}`;
}

export class Logger {
  readonly component: string;
  constructor(component: string) {
    this.component = component;
  }
  enabled(level: LogLevel): boolean {
    return RANK[level] <= state.verbosity;
  }
  #write(level: LogLevel, message: string): void {
    if (!this.enabled(level)) return;
    const record = { level, time: new Date(), component: this.component, message };
    const line = formatRecord(record, state.format);
    for (const sink of state.sinks) sink(record, line);
  }
  fatal(message: string): void {
    this.#write("fatal", message);
  }
  error(message: string): void {
    this.#write("error", message);
  }
  warn(message: string): void {
    this.#write("warn", message);
  }
  info(message: string): void {
    this.#write("info", message);
  }
  debug(message: string): void {
    this.#write("debug", message);
  }
}
