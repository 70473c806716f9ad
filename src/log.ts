/**
 * @module Logging for every layer: level, time, component, message; text or JSON lines.
 * The sink is replaceable (stderr in the foreground, syslog/file in daemon mode, the TUI's
 * log pane). Levels follow SIPWS's -v count: 0 fatal, 1 error, 2 warning, 3 debug.
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
/** Where terminal lines go while a full-screen dashboard owns the terminal. */
let terminalDiversion: LogSink | undefined;

/**
 * Sends what `stderrSink` would print to `sink` instead (the dashboard's Log pane), or
 * back to the terminal with undefined. Other sinks (files, syslog) are unaffected, and
 * the diversion survives a reload that rebuilds the sink list.
 */
export function divertTerminal(sink: LogSink | undefined): void {
  terminalDiversion = sink;
}

/** The foreground sink. */
export const stderrSink: LogSink = (record, line) => {
  if (terminalDiversion) return terminalDiversion(record, line);
  try {
    Deno.stderr.writeSync(encoder.encode(line + "\n"));
  } catch {
    // stderr closed (detached process): a log line is not worth a crash.
  }
};
const state: LogState = { verbosity: 0, format: "text", sinks: [stderrSink] };

/** A sink holding a resource (file, `logger` process) that must be released at exit. */
export interface ClosableSink {
  sink: LogSink;
  close(): Promise<void>;
}

/** Appends each line to `path` (created if missing); used on Windows and by `--log-file`. */
export function fileSink(path: string): ClosableSink {
  const file = Deno.openSync(path, { append: true, create: true });
  let open = true;
  return {
    sink: (_r, line) => {
      if (open) file.writeSync(encoder.encode(line + "\n"));
    },
    close: () => {
      if (open) {
        open = false;
        file.close();
      }
      return Promise.resolve();
    },
  };
}

/** syslog severity of a level (RFC 5424 §6.2.1). */
export const SYSLOG_SEVERITY: Record<LogLevel, number> = {
  fatal: 2,
  error: 3,
  warn: 4,
  info: 6,
  debug: 7,
};

/**
 * Sends lines to syslog (journald on systemd hosts) through `logger -t TAG --prio-prefix`
 * on a pipe, facility daemon, with each line's severity. Throws `Deno.errors.NotFound`
 * when `logger` is not installed so the caller can pick another sink.
 */
export function syslogSink(tag = "sipws"): ClosableSink {
  const child = new Deno.Command("logger", {
    args: ["-t", tag, "--prio-prefix"],
    stdin: "piped",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  let open = true;
  const DAEMON = 3 << 3;
  return {
    sink: (record, line) => {
      if (!open) return;
      const pri = DAEMON | SYSLOG_SEVERITY[record.level];
      writer.write(encoder.encode(`<${pri}>${line.replace(/\n/g, " ")}\n`)).catch(() => {
        open = false;
      });
    },
    close: async () => {
      if (!open) return;
      open = false;
      await writer.close().catch(() => {});
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<void>((r) => timer = setTimeout(r, 2000));
      await Promise.race([child.status.then(() => {}), late]);
      clearTimeout(timer);
    },
  };
}

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
  return `${
    record.level.toUpperCase().padEnd(5)
  } ${record.time.toISOString()} [${record.component}] ${record.message}`;
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
