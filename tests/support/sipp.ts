/**
 * @module sipp (package `sip-tester`, /usr/bin/sipp) for integration tests: run a scenario
 * to completion with a hard time bound (`runSipp`), or start one in the background, e.g. a
 * UAS, and collect its result later (`startSipp`). Each run gets its own temporary working
 * directory so sipp's trace files do not litter the tree; the error trace is read back into
 * the result and the directory is removed. Final statistics are parsed from sipp's closing
 * screen. This module never lets sipp outlive the call that started it; it adds
 * `-nostdin -trace_err -timeout <s> -timeout_error` and `-i 127.0.0.1` unless given.
 */

import { ChildProcess, spawnChild } from "./process.ts";
import { type PortTransport, waitForListening } from "./ports.ts";

/** The sipp binary. */
export const SIPP = "/usr/bin/sipp";

/** Options for one sipp run. */
export interface SippOptions {
  /** sipp arguments, e.g. `["-sn", "uac", "127.0.0.1:5060", "-s", "alice"]`. */
  args: string[];
  /** Scenario file, passed as `-sf`. */
  scenarioFile?: string;
  /** Scenario XML text: written to a temporary file and passed as `-sf`. */
  scenarioXml?: string;
  /** Number of calls (`-m`). */
  calls?: number;
  /**
   * Hard bound: sipp gets `-timeout` of this (rounded down to seconds, at least 1) with
   * `-timeout_error`, and is killed 3 s after it if still running.
   */
  timeoutMs: number;
  /** Extra environment for the child. */
  env?: Record<string, string>;
}

/** Counters from sipp's final statistics screen (cumulative column). */
export interface SippStats {
  successfulCalls: number;
  failedCalls: number;
  totalCalls: number;
  incomingCalls: number;
  outgoingCalls: number;
}

/** What a sipp run produced. */
export interface SippResult {
  /** sipp's exit code: 0 all calls succeeded, 1 some failed, 97/99/255 see sipp(1). */
  code: number;
  stdout: string;
  stderr: string;
  /** Contents of sipp's `-trace_err` file ("" when none was written). */
  errors: string;
  /** True when sipp had to be killed because the hard bound expired. */
  timedOut: boolean;
  /** Parsed final statistics, when sipp printed them. */
  stats?: SippStats;
}

/** A sipp started in the background. */
export interface SippRun extends AsyncDisposable {
  readonly child: ChildProcess;
  /** Wait for sipp to exit (bounded by `timeoutMs` from start), then collect and clean up. */
  result(): Promise<SippResult>;
  /** Kill sipp now (if running), collect and clean up. Safe to call more than once. */
  stop(): Promise<SippResult>;
}

/**
 * Write scenario XML to `dir` (default: a new temporary directory, which the caller then
 * removes) and return the file's path. `SippOptions.scenarioXml` does this for you.
 */
export async function writeScenario(xml: string, dir?: string, name = "scenario.xml") {
  const target = dir ?? await Deno.makeTempDir({ prefix: "sipws-sipp-scn-" });
  const path = `${target}/${name}`;
  await Deno.writeTextFile(path, xml);
  return path;
}

function counter(stdout: string, name: string): number | undefined {
  // Lines look like "  Successful call        |        0                  |        5".
  // The last such line is the final screen; the last column is cumulative.
  const re = new RegExp(`^\\s*${name}\\s*\\|[^|\\n]*\\|\\s*(\\d+)`, "gm");
  let value: number | undefined;
  for (const m of stdout.matchAll(re)) value = Number(m[1]);
  return value;
}

/** Parse the cumulative counters of sipp's last statistics screen in `stdout`. */
export function parseSippStats(stdout: string): SippStats | undefined {
  const successfulCalls = counter(stdout, "Successful call");
  const failedCalls = counter(stdout, "Failed call");
  if (successfulCalls === undefined || failedCalls === undefined) return undefined;
  return {
    successfulCalls,
    failedCalls,
    totalCalls: counter(stdout, "Total Calls created") ?? 0,
    incomingCalls: counter(stdout, "Incoming calls created") ?? 0,
    outgoingCalls: counter(stdout, "Outgoing calls created") ?? 0,
  };
}

function hasFlag(args: string[], flag: string): boolean {
  return args.includes(flag);
}

/** Start sipp in the background (e.g. a UAS) with the same options as `runSipp`. */
export async function startSipp(opts: SippOptions): Promise<SippRun> {
  const cwd = await Deno.makeTempDir({ prefix: "sipws-sipp-" });
  const args: string[] = [];
  if (opts.scenarioXml !== undefined) {
    args.push("-sf", await writeScenario(opts.scenarioXml, cwd));
  } else if (opts.scenarioFile !== undefined) {
    args.push("-sf", await Deno.realPath(opts.scenarioFile));
  }
  args.push(...opts.args);
  if (opts.calls !== undefined) args.push("-m", String(opts.calls));
  if (!hasFlag(args, "-i")) args.push("-i", "127.0.0.1");
  if (!hasFlag(args, "-nostdin")) args.push("-nostdin");
  if (!hasFlag(args, "-trace_err")) args.push("-trace_err");
  if (!hasFlag(args, "-timeout")) {
    args.push("-timeout", `${Math.max(1, Math.floor(opts.timeoutMs / 1000))}s`);
  }
  if (!hasFlag(args, "-timeout_error")) args.push("-timeout_error");

  const child = spawnChild(SIPP, { args, cwd, env: opts.env });
  const hardBound = opts.timeoutMs + 3000;
  let done: Promise<SippResult> | undefined;

  const collect = async (timedOut: boolean): Promise<SippResult> => {
    const status = await child.stop();
    let errors = "";
    try {
      for await (const entry of Deno.readDir(cwd)) {
        if (entry.name.endsWith("_errors.log")) {
          errors += await Deno.readTextFile(`${cwd}/${entry.name}`);
        }
      }
    } finally {
      await Deno.remove(cwd, { recursive: true }).catch(() => {});
    }
    return {
      code: status.code,
      stdout: child.stdout,
      stderr: child.stderr,
      errors,
      timedOut,
      stats: parseSippStats(child.stdout),
    };
  };

  const run: SippRun = {
    child,
    result() {
      done ??= child.wait(hardBound).then(({ timedOut }) => collect(timedOut));
      return done;
    },
    stop() {
      done ??= collect(false);
      return done;
    },
    async [Symbol.asyncDispose]() {
      await run.stop();
    },
  };
  return run;
}

/** Run sipp to completion (bounded by `timeoutMs` + 3 s) and return its result. */
export async function runSipp(opts: SippOptions): Promise<SippResult> {
  const run = await startSipp(opts);
  try {
    return await run.result();
  } finally {
    await run.stop();
  }
}

/** Format a sipp result for an assertion message. */
export function describeSipp(r: SippResult): string {
  const tail = (s: string) => s.length > 3000 ? "..." + s.slice(-3000) : s;
  return `sipp code ${r.code}${r.timedOut ? " (killed at hard bound)" : ""}\n` +
    `--- stdout ---\n${tail(r.stdout)}\n--- stderr ---\n${tail(r.stderr)}\n` +
    `--- errors ---\n${tail(r.errors)}`;
}

/** Where and as whom a sipp caller dials: see `callerArgs`. */
export interface CallerArgs {
  /** The server, host:port. */
  server: string;
  /** sipp's own local port (-p); sipp picks one when absent. */
  port?: number;
  /** sipp's transport (-t), e.g. "u1" or "t1"; sipp's default (u1) when absent. */
  transport?: string;
  /** The called user (-s); when absent, the scenario names whom it calls. */
  service?: string;
  /** Answers the server's digest challenges (-au, -ap). */
  account: { user: string; password: string };
}

/** The arguments of a sipp caller that authenticates as `account`. */
export function callerArgs(o: CallerArgs): string[] {
  return [
    o.server,
    ...(o.port === undefined ? [] : ["-p", String(o.port)]),
    ...(o.transport === undefined ? [] : ["-t", o.transport]),
    ...(o.service === undefined ? [] : ["-s", o.service]),
    ...["-au", o.account.user, "-ap", o.account.password],
  ];
}

/** A scenario's `<send>` answering the last request received with `status`, no body. */
export function sippReply(status: string): string {
  return `<send><![CDATA[
SIP/2.0 ${status}
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>`;
}

/**
 * Resolves once `run`'s sipp has bound `port`; rejects with sipp's own output if it exits
 * first (say the port, free when picked, was taken by another process since), else after
 * `timeoutMs` (a loaded machine may take seconds to start a process).
 */
export async function sippListening(
  run: SippRun,
  port: number,
  transport: PortTransport,
  timeoutMs = 10_000,
): Promise<void> {
  let listening = false;
  const exited = run.child.status.then(async () => {
    if (listening) return;
    const r = await run.stop();
    throw new Error(
      `sipp exited before listening on ${transport} port ${port}:\n${describeSipp(r)}`,
    );
  });
  await Promise.race([waitForListening(port, transport, timeoutMs), exited]);
  listening = true;
}

/**
 * A sipp phone on 127.0.0.1:`port` answering one call (scenarios/uas_answer.xml, up for
 * 500 ms), listening when this resolves.
 */
export async function startAnsweringPhone(
  port: number,
  transport: "udp" | "tcp",
  timeoutMs: number,
): Promise<SippRun> {
  const run = await startSipp({
    scenarioFile: new URL("./scenarios/uas_answer.xml", import.meta.url).pathname,
    args: ["-p", String(port), "-t", transport === "udp" ? "u1" : "t1", "-d", "500"],
    calls: 1,
    timeoutMs,
  });
  try {
    await sippListening(run, port, transport);
  } catch (e) {
    await run.stop();
    throw e;
  }
  return run;
}
