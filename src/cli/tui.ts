/**
 * @module The dashboard's two doors: `sipws tui --url URL --key K` attaches to a running
 * sipws through its HTTP API, and `runTuiForServer(server)` (used by `serve --tui`) shows
 * the in-process server and resolves when the operator quits, which stops the server.
 * React and ink are imported only here, lazily, and only when stdout is a terminal; when
 * it is not, the dashboard degrades to plain logs (serve) or summary lines (tui). It owns
 * where log lines go while the dashboard is up (into its Log pane, not over the screen).
 */

import type { Command } from "commander";
import { configureLog, divertTerminal, Logger } from "../log.ts";
import type { Server } from "../server.ts";
import { printErr } from "./output.ts";
import { VERSION } from "./self.ts";

const log = new Logger("tui");

/** Log verbosity while the dashboard is up: the Log pane filters by level itself. */
const DASHBOARD_VERBOSITY = 3;

/**
 * Loads the ink app. React picks its build from NODE_ENV when first imported; the
 * development build re-checks every render and costs the server CPU, so unless the
 * operator set NODE_ENV the dashboard runs the production build.
 */
async function loadDashboard() {
  if (Deno.env.get("NODE_ENV") === undefined) Deno.env.set("NODE_ENV", "production");
  return await import("../tui/run.tsx");
}

interface TuiOptions {
  url: string;
  key?: string;
  interval?: string;
}

/** Registers `sipws tui --url URL --key K [--interval MS]`; exit code via Deno.exitCode. */
export function registerTuiCommand(program: Command): void {
  program
    .command("tui")
    .description("terminal dashboard of a running sipws, through its HTTP API")
    .requiredOption("--url <url>", "HTTP API base URL, e.g. http://127.0.0.1:8082")
    .option("--key <key>", "API key (default: $SIPWS_KEY)")
    .option("--interval <ms>", "polling period in milliseconds", "1000")
    .action(async (options: TuiOptions) => {
      Deno.exitCode = await runRemoteTui(options);
    });
}

function parseUrl(text: string): URL | undefined {
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:" ? url : undefined;
  } catch {
    return undefined;
  }
}

/** `sipws tui`: returns the exit code (0 quit, 1 unreachable or refused, 2 usage). */
export async function runRemoteTui(options: TuiOptions): Promise<number> {
  const url = parseUrl(options.url);
  if (!url) {
    printErr(`error: --url must be an http(s) URL, got ${JSON.stringify(options.url)}`);
    return 2;
  }
  const key = options.key ?? Deno.env.get("SIPWS_KEY");
  if (!key) {
    printErr("error: an API key is needed: --key K or SIPWS_KEY");
    return 2;
  }
  const pollMs = Number(options.interval ?? "1000");
  if (!Number.isInteger(pollMs) || pollMs < 100 || pollMs > 60_000) {
    printErr("error: --interval must be an integer between 100 and 60000 (ms)");
    return 2;
  }
  const { RemoteSource, RemoteApiError } = await import("../tui/remote_source.ts");
  const source = new RemoteSource(url.href, key, { pollMs });
  try {
    await source.snapshot();
  } catch (e) {
    if (e instanceof RemoteApiError && (e.status === 401 || e.status === 403)) {
      printErr(`error: ${source.origin} refused the key (HTTP ${e.status})`);
    } else printErr(`error: cannot read ${source.origin}: ${e instanceof Error ? e.message : e}`);
    return 1;
  }

  if (!Deno.stdout.isTerminal()) {
    const { runPlainSummary } = await loadDashboard();
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    Deno.addSignalListener("SIGINT", onSignal);
    if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", onSignal);
    try {
      await runPlainSummary(source, stop.signal);
    } finally {
      Deno.removeSignalListener("SIGINT", onSignal);
      if (Deno.build.os !== "windows") Deno.removeSignalListener("SIGTERM", onSignal);
    }
    return 0;
  }

  const { LogTap } = await import("../tui/log_tap.ts");
  const { runDashboard } = await loadDashboard();
  const tap = new LogTap();
  configureLog({ verbosity: DASHBOARD_VERBOSITY });
  divertTerminal(tap.sink);
  try {
    log.info(`attached to ${source.origin}`);
    await runDashboard(source, tap);
  } finally {
    divertTerminal(undefined);
  }
  return 0;
}

/**
 * Shows the dashboard for `server`; resolves when the operator quits. When stdout is not
 * a terminal it never resolves: the server keeps running with its plain logs and stops on
 * a signal as usual.
 */
export async function runTuiForServer(server: Server): Promise<void> {
  if (!Deno.stdout.isTerminal()) {
    // Said whatever the verbosity: the operator asked for a dashboard and gets none.
    printErr("note: --tui: stdout is not a terminal, so no dashboard: plain logs instead");
    return await new Promise<void>(() => {});
  }
  const { LogTap } = await import("../tui/log_tap.ts");
  const { LocalSource } = await import("../tui/local_source.ts");
  const { runDashboard } = await loadDashboard();
  const tap = new LogTap();
  const verbosity = server.config.verbosity;
  // Lines written to the terminal would tear the screen: they go to the Log pane instead.
  configureLog({ verbosity: Math.max(verbosity, DASHBOARD_VERBOSITY) });
  divertTerminal(tap.sink);
  try {
    await runDashboard(new LocalSource(server, { version: VERSION }), tap);
  } finally {
    divertTerminal(undefined);
    configureLog({ verbosity });
  }
}
