/**
 * @module `sipws [serve] ...`: load the Config, then either detach (daemon, as in SIPWS)
 * or run the server attached. It owns the daemon re-spawn and readiness wait, the pid file,
 * where logs go (stderr, syslog through `logger`, `sipws.log` beside the binary on Windows,
 * `--log-file`), and signals: SIGTERM/SIGINT stop gracefully, SIGHUP reloads. It builds no
 * SIP layer itself: `startServer` (src/server.ts) does, loaded lazily so other commands
 * never pay for it.
 */

import { join, resolve } from "node:path";
import {
  type ClosableSink,
  configureLog,
  fileSink,
  Logger,
  type LogSink,
  stderrSink,
  syslogSink,
} from "../log.ts";
import type { Config } from "../config/config.ts";
import { hasTransport, NO_TRANSPORT_MESSAGE } from "../config/flags.ts";
import { binaryDir, loadConfig, type LoadEnv, type LoadResult } from "../config/load.ts";
import type { Server } from "../server.ts";
import { describeConfig, describeTransports } from "./describe.ts";
import { printErr, reportLoadError } from "./output.ts";
import { selfCommand, VERSION } from "./self.ts";
import { releaseStartupPages } from "./startup_pages.ts";

/** Hidden marker the daemon parent gives its child. */
export const DAEMON_CHILD_FLAG = "--daemon-child";

export interface ServeOptions {
  env?: LoadEnv;
  /** Bound on graceful shutdown before giving up, ms. */
  stopTimeoutMs?: number;
}

/** Runs `sipws [serve] argv`; resolves with the process exit code once the server stopped. */
export async function runServe(argv: string[], options: ServeOptions = {}): Promise<number> {
  let loaded: LoadResult;
  try {
    loaded = await loadConfig(argv, options.env);
  } catch (e) {
    return reportLoadError(e);
  }
  const { config, meta } = loaded;
  if (!hasTransport(config)) {
    printErr(`error: ${NO_TRANSPORT_MESSAGE}`);
    return 2;
  }
  if (!config.foreground && !meta.daemonChild) return await detach(argv, config);
  return await runAttached(argv, loaded, options);
}

async function readPid(path: string): Promise<number | undefined> {
  try {
    const n = Number((await Deno.readTextFile(path)).trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  if (Deno.build.os !== "linux") return false; // no portable probe; treat the file as stale
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Daemon parent: re-spawn ourselves with `--foreground --daemon-child`, stdio detached, and
 * wait (bounded) until the child has written its pid file, so start-up failures still reach
 * the operator's terminal as an exit code.
 */
async function detach(argv: string[], config: Config): Promise<number> {
  const pidFile = resolve(config.pidFile);
  const old = await readPid(pidFile);
  if (old !== undefined && isAlive(old)) {
    printErr(`error: sipws already runs (pid ${old}, ${pidFile})`);
    return 1;
  }
  await Deno.remove(pidFile).catch(() => {});
  // Markers first: after a `--` in argv they would be read as keys.
  const self = selfCommand(["--foreground", DAEMON_CHILD_FLAG, ...argv]);
  const child = new Deno.Command(self.command, {
    args: self.args,
    stdin: "null",
    stdout: "null",
    stderr: "null",
    detached: true,
  }).spawn();
  let exited: Deno.CommandStatus | undefined;
  child.status.then((s) => exited = s);
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (exited !== undefined) {
      printErr(
        `error: sipws daemon exited during start-up (code ${exited.code}); see the system log`,
      );
      return 1;
    }
    if ((await readPid(pidFile)) === child.pid) {
      child.unref();
      printErr(`sipws daemon started (pid ${child.pid}, ${pidFile})`);
      return 0;
    }
    await sleep(50);
  }
  child.unref();
  printErr(`warning: sipws daemon (pid ${child.pid}) has not written ${pidFile} yet`);
  return 0;
}

/** Log sinks for a mode; the returned closer flushes them. */
function setupLogging(config: Config, daemonChild: boolean): () => Promise<void> {
  const sinks: LogSink[] = [];
  const closables: ClosableSink[] = [];
  const besideBinary = () => fileSink(join(binaryDir(), "sipws.log"));
  if (!daemonChild) sinks.push(stderrSink);
  else if (Deno.build.os === "windows") closables.push(besideBinary());
  else {
    try {
      closables.push(syslogSink("sipws"));
    } catch {
      // No `logger` (util-linux) on this host: keep SIPWS's Windows behaviour.
      try {
        closables.push(besideBinary());
      } catch {
        // nowhere writable; fatal errors still end the process with a code
      }
    }
  }
  if (config.logFile !== undefined) closables.push(fileSink(config.logFile));
  configureLog({
    verbosity: config.verbosity,
    format: config.logFormat,
    sinks: [...sinks, ...closables.map((c) => c.sink)],
  });
  return async () => {
    for (const c of closables) await c.close();
    configureLog({ sinks: [stderrSink] });
  };
}

async function runAttached(
  argv: string[],
  loaded: LoadResult,
  options: ServeOptions,
): Promise<number> {
  const { config, meta } = loaded;
  let closeLog = setupLogging(config, meta.daemonChild);
  const log = new Logger("cli");
  log.info(`configuration from ${loaded.sources.join(", ")}`);
  log.debug(`configuration: ${describeConfig(config)}`);

  // Signal listeners take a descriptor each: install them before the server accepts
  // connections, which may use up every descriptor (the accept loop then backs off).
  let server: Server | undefined;
  let stopping = false;
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => resolveDone = r);
  const stop = async (why: string) => {
    if (stopping) {
      log.warn(`${why} again: exiting without waiting`);
      resolveDone(1);
      return;
    }
    stopping = true;
    log.info(`${why}: stopping`);
    // Before the server is up, startup sees `stopping` and stops it at once.
    if (server !== undefined) await stopServer(server);
  };
  const stopServer = async (server: Server) => {
    const bound = options.stopTimeoutMs ?? 15_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((r) => timer = setTimeout(() => r("late"), bound));
    try {
      const r = await Promise.race([server.stop().then(() => "ok" as const), late]);
      if (r === "late") {
        log.error(`graceful stop took over ${bound} ms; exiting`);
        resolveDone(1);
      } else resolveDone(0);
    } catch (e) {
      log.error(`stop failed: ${e instanceof Error ? e.message : e}`);
      resolveDone(1);
    } finally {
      clearTimeout(timer);
    }
  };
  let reloading = Promise.resolve();
  const reload = () => {
    reloading = reloading.then(async () => {
      if (stopping || server === undefined) return;
      const running = server;
      log.info("SIGHUP: reloading configuration");
      let next: LoadResult;
      try {
        next = await loadConfig(argv, options.env);
      } catch (e) {
        log.error(`reload refused, keeping the running configuration: ${(e as Error).message}`);
        return;
      }
      if (!hasTransport(next.config)) {
        log.error(`reload refused: ${NO_TRANSPORT_MESSAGE}`);
        return;
      }
      await closeLog();
      closeLog = setupLogging(next.config, meta.daemonChild);
      try {
        await running.reload(next.config);
        log.info(`reloaded from ${next.sources.join(", ")}`);
      } catch (e) {
        log.error(`reload failed: ${e instanceof Error ? e.message : e}`);
      }
    });
  };

  const handlers: [Deno.Signal, () => void][] = [
    ["SIGINT", () => void stop("SIGINT")],
  ];
  if (Deno.build.os !== "windows") {
    handlers.push(["SIGTERM", () => void stop("SIGTERM")], ["SIGHUP", reload]);
  } else {
    handlers.push(["SIGBREAK", () => void stop("SIGBREAK")]);
  }
  for (const [sig, h] of handlers) Deno.addSignalListener(sig, h);

  try {
    const { startServer } = await import("../server.ts");
    const { startControlApi } = await import("../api/control_api.ts");
    server = await startServer(config, [(s) => startControlApi(s, { version: VERSION })]);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    log.fatal(`cannot start: ${why}`);
    if (!meta.daemonChild) printErr(`error: cannot start: ${why}`);
    for (const [sig, h] of handlers) Deno.removeSignalListener(sig, h);
    await closeLog();
    return 1;
  }
  log.info(`started: ${describeTransports(config)}`);
  if (stopping) void stopServer(server);
  const releasedKb = releaseStartupPages();
  if (releasedKb > 0) {
    log.debug(`released ${Math.round(releasedKb / 1024)} MB of startup-only pages`);
  }

  // The daemon always writes its pid file; an attached run only when one was asked for.
  const pidFile = meta.daemonChild || loaded.explicit.has("pid_file")
    ? resolve(config.pidFile)
    : undefined;
  if (pidFile !== undefined) await Deno.writeTextFile(pidFile, `${Deno.pid}\n`);

  if (config.tui) {
    const { runTuiForServer } = await import("./tui.ts");
    runTuiForServer(server).then(
      () => stop("dashboard closed"),
      (e) => {
        log.error(`dashboard failed: ${e instanceof Error ? e.message : e}`);
      },
    );
  }

  const code = await done;
  await reloading.catch(() => {});
  for (const [sig, h] of handlers) Deno.removeSignalListener(sig, h);
  if (pidFile !== undefined) {
    // Remove it only if it is still ours (a newer daemon may have replaced it).
    if ((await readPid(pidFile)) === Deno.pid) await Deno.remove(pidFile).catch(() => {});
  }
  log.info("stopped");
  await closeLog();
  return code;
}
