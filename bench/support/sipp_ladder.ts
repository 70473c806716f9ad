/**
 * @module The open-loop ladder every sipp load climbs (bench/open_loop.ts: REGISTER, and
 * calls through bench/support/call_load.ts): one step offers a fixed rate for a fixed time
 * (`sipp -r R -m stepS·R`; over TCP two sipp instances, two connections) of a `SippLoad`
 * (scenario, arguments, what counts as completed) and is judged by the open-loop pass rule
 * (failed + unfinished + 503'd < 0.1 %, achieved ≥ 97 % of offered, p99 ≤ 200 ms), with the
 * server's CPU µs per operation (its process group, from /proc), peak memory and kernel drops. The
 * servers alternate step by step; a failed step is tried once more. Not part of the product.
 */
import { spawnChild } from "../../tests/support/process.ts";
import { freePorts } from "../../tests/support/ports.ts";
import { SIPP } from "../../tests/support/sipp.ts";
import { groupSchedstat, mb, processTicks } from "./proc.ts";
import { reachedAt, readRows, type StatRow } from "./sipp_stats.ts";
import { udpDrops } from "./call_servers.ts";
import { BENCH_ACCOUNT, type Registrar } from "./registrars.ts";

export type Transport = "udp" | "tcp";

/** What a step offers: one sipp scenario per operation, and what counts as completed. */
export interface SippLoad {
  /** The operation's short name in reports ("reg", "call"). */
  op: string;
  /** Title of the ladder's summary lines. */
  title: string;
  scenario: string;
  /** sipp arguments beyond the rig's (target, port, transport, rate, count, bounds). */
  args: string[];
  /** Operations completed, from the last scenario screen. */
  completed(screen: SippScreen): number;
}

/** REGISTER → 401 → REGISTER with digest → 200 as the bench account. */
export const REGISTER_LOAD: SippLoad = {
  op: "reg",
  title: "REGISTER",
  scenario: new URL("../scenarios/register_digest.xml", import.meta.url).pathname,
  args: [
    "-s",
    BENCH_ACCOUNT.user,
    "-au",
    BENCH_ACCOUNT.user,
    "-ap",
    BENCH_ACCOUNT.password,
  ],
  // 200s, not sipp's successful calls: a 503'd registration ends the scenario too.
  completed: (s) => s.responses.get(200) ?? 0,
};

export interface LoadRun {
  server: string;
  transport: Transport;
  /** The load's `op`. */
  op: string;
  /** Offered operations/s. */
  rate: number;
  offered: number;
  /** Operations completed (`SippLoad.completed`). */
  completed: number;
  failed: number;
  /** Neither completed nor failed when sipp stopped. */
  unfinished: number;
  /** 503s received (load shed by the server). */
  shed: number;
  /** Of them, those with a Retry-After (counted by register_flood; sipp does not tell). */
  shedWithRetryAfter?: number;
  /** Completed operations per second of the run's wall time. */
  achievedPerSec: number;
  /**
   * Operations completed while the load was offered, per second of it (register_flood only:
   * `achievedPerSec` also waits for the last retransmission to time out).
   */
  achievedInOfferPerSec?: number;
  p50Ms: number;
  p99Ms: number;
  /** Server CPU time per completed operation, µs. */
  cpuUsPerOp: number;
  /** Server CPU as % of one core over the run. */
  cpuPct: number;
  peakMemMb: number;
  wallS: number;
  /** Datagrams the kernel dropped on the server's UDP socket (it did not read in time). */
  serverDrops: number;
  /** ...and on sipp's sockets (the load generator did not keep up). */
  clientDrops: number;
  /** What offered the load: sipp, or bench/loadgen/register_flood.c ("register_flood"). */
  generator?: "sipp" | "register_flood";
  /**
   * CPU of the load's generator processes (the callee's UAS not included), % of one core:
   * near 100 % per instance, the generator is the bottleneck, not the server.
   */
  clientCpuPct?: number;
  /**
   * Share of the time the server's threads were runnable that they waited for a CPU: high,
   * the machine (sipp, other work) starved the server; low with drops, the server stalled.
   */
  serverWaitPct?: number;
}

export interface LadderStep extends LoadRun {
  passed: boolean;
  attempt: number;
  reason?: string;
}

export interface LadderResult {
  transport: Transport;
  op: string;
  title: string;
  rates: number[];
  stepS: number;
  steps: LadderStep[];
  /** Highest passing offered rate per server. */
  maxRate: Record<string, number>;
  /** Achieved rate of that step per server. */
  maxAchieved: Record<string, number>;
  /** CPU µs per operation at that step. */
  cpuUsAtMax: Record<string, number>;
  /** Servers that passed every rate: their limit is above the ladder's top. */
  capped: string[];
}

export interface SippScreen {
  created: number;
  successful: number;
  failed: number;
  /** Response code → count received. */
  responses: Map<number, number>;
}

export function parseScreen(stdout: string): SippScreen {
  const num = (re: RegExp) => {
    const all = [...stdout.matchAll(re)];
    return all.length ? Number(all.at(-1)![1]) : 0;
  };
  const responses = new Map<number, number>();
  // The last scenario screen: lines "         401 <----------         6000      0 ...", a
  // code possibly on several lines (a 503 may come for either REGISTER).
  const screen = stdout.slice(stdout.lastIndexOf("Messages  Retrans"));
  for (const m of screen.matchAll(/^\s+(\d{3}) <-+\s+(?:E-RTD\d\s+)?(\d+)/gm)) {
    responses.set(Number(m[1]), (responses.get(Number(m[1])) ?? 0) + Number(m[2]));
  }
  return {
    created: num(/Total Calls created\s*\|\s*\|\s*(\d+)/g),
    successful: num(/Successful call\s*\|\s*\d+\s*\|\s*(\d+)/g),
    failed: num(/Failed call\s*\|\s*\d+\s*\|\s*(\d+)/g),
    responses,
  };
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** sipp's -trace_rtt files: one response time (ms) per operation. */
async function readRtts(dir: string): Promise<number[]> {
  const out: number[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (!e.name.endsWith("_rtt.csv")) continue;
    const text = await Deno.readTextFile(`${dir}/${e.name}`);
    for (const line of text.split("\n").slice(1)) {
      const v = Number(line.split(";")[1]);
      if (line && Number.isFinite(v)) out.push(v);
    }
  }
  return out.sort((a, b) => a - b);
}

/**
 * The sipp arguments every bench load shares: `load`'s scenario from 127.0.0.1:`localPort`
 * to 127.0.0.1:`port` over `transport`, ending after `timeoutS`, its screen on stdout. The
 * caller adds how the load is paced (`-r`, `-l`, `-m`).
 */
export function sippLoadArgs(
  load: SippLoad,
  port: number,
  localPort: number,
  transport: Transport,
  timeoutS: number,
): string[] {
  return [
    `127.0.0.1:${port}`,
    "-sf",
    load.scenario,
    ...load.args,
    "-i",
    "127.0.0.1",
    "-p",
    String(localPort),
    "-t",
    transport === "tcp" ? "t1" : "u1",
    "-timeout",
    `${timeoutS}s`,
    "-fd",
    "1",
    "-nostdin",
    "-max_recv_loops",
    "10000",
    // Larger socket buffers for sipp (capped by net.core.rmem_max): the generator,
    // sharing the cores, must not be where datagrams are lost.
    "-buff_size",
    "1048576",
  ];
}

export interface RunOptions {
  transport: Transport;
  /** Default: REGISTER_LOAD. */
  load?: SippLoad;
  rate: number;
  durationS: number;
  /** Called every `sampleEveryMs` with seconds since start and memory MB (the soak's curve). */
  onSample?: (atS: number, memMb: number) => void;
  sampleEveryMs?: number;
}

/** What the server did during a load: CPU, peak memory, kernel drops, CPU starvation. */
export interface ServerFigures {
  wallS: number;
  /** Server CPU seconds over the load (its process group). */
  cpuS: number;
  peakMemMb: number;
  serverDrops: number;
  serverWaitPct: number;
}

/**
 * Starts watching `server` for one load (memory every `everyMs`, told to `onSample` with
 * seconds since start); `end()` stops and returns the figures. Whatever generates the load.
 */
export function watchServer(
  server: Registrar,
  everyMs = 250,
  onSample?: (atS: number, memMb: number) => void,
): { end(): ServerFigures } {
  const ticks0 = server.ticks();
  const sched0 = groupSchedstat(server.child.pid);
  let peakKb = server.memoryKb();
  const drops0 = udpDrops(server.port);
  const t0 = performance.now();
  const sampler = setInterval(() => {
    const kb = server.memoryKb();
    if (kb > peakKb) peakKb = kb;
    onSample?.(Math.round((performance.now() - t0) / 1000), mb(kb));
  }, everyMs);
  return {
    end() {
      clearInterval(sampler);
      const wallS = (performance.now() - t0) / 1000;
      const sched = groupSchedstat(server.child.pid);
      const waitNs = sched.waitNs - sched0.waitNs;
      const runnableNs = waitNs + sched.runNs - sched0.runNs;
      return {
        wallS,
        cpuS: (server.ticks() - ticks0) / 100,
        peakMemMb: mb(Math.max(peakKb, server.memoryKb())),
        serverDrops: udpDrops(server.port) - drops0,
        serverWaitPct: runnableNs > 0 ? Math.round((waitNs / runnableNs) * 100) : 0,
      };
    },
  };
}

/** Offers `rate` operations/s for `durationS` to `server`; bounded by durationS + 15 s. */
export async function runLoad(server: Registrar, o: RunOptions): Promise<LoadRun> {
  const load = o.load ?? REGISTER_LOAD;
  const instances = o.transport === "tcp" ? 2 : 1;
  const calls = Math.max(1, Math.round(o.rate * o.durationS));
  const dir = await Deno.makeTempDir({ prefix: "sipws-openloop-" });
  const ports = freePorts(instances);
  const timeoutS = o.durationS + 15;
  const watch = watchServer(server, o.sampleEveryMs, o.onSample);
  let clientDrops = 0;
  const started = Date.now() / 1000;
  // sipp's sockets close with it, and its /proc entry: both are read while it runs.
  const clientTicks = ports.map(() => 0);
  const clientSampler = setInterval(() => {
    const n = ports.reduce((sum, p) => sum + udpDrops(p), 0);
    if (n > clientDrops) clientDrops = n;
    children.forEach((c, i) => {
      try {
        clientTicks[i] = processTicks(c.pid);
      } catch { /* exited */ }
    });
  }, 500);
  const children = ports.map((port, i) => {
    const share = Math.round(calls / instances) + (i === 0 ? calls % instances : 0);
    return spawnChild(SIPP, {
      args: [
        ...sippLoadArgs(load, server.port, port, o.transport, timeoutS),
        "-r",
        String(o.rate / instances),
        "-rp",
        "1000",
        "-m",
        String(share),
        // Once-a-second counters: when the last operation ended (see loadS below).
        "-trace_stat",
        "-stf",
        `${dir}/stat-${i}.csv`,
        "-trace_rtt",
        // sipp writes response times every rtt_freq of them, and not the rest at exit.
        "-rtt_freq",
        "100",
      ],
      cwd: dir,
    });
  });
  let figures: ServerFigures;
  try {
    await Promise.all(children.map((c) => c.wait((timeoutS + 5) * 1000)));
  } finally {
    figures = watch.end();
    clearInterval(clientSampler);
    await Promise.all(children.map((c) => c.stop()));
  }
  const { wallS, cpuS } = figures;
  const screens = children.map((c) => parseScreen(c.stdout));
  const rtts = await readRtts(dir);
  // Wall time of the offered load: the step, or longer when the server fell behind,
  // until the last operation that ended did (a call left unfinished keeps sipp up to its
  // -timeout, which is not the rate the others were served at); sipp's exit time without
  // its counters.
  const ends = await Promise.all(ports.map(async (_, i) => {
    const rows = await readRows(`${dir}/stat-${i}.csv`);
    const ended = (r: StatRow) => r.successful + r.failed;
    const last = rows.at(-1);
    return last ? reachedAt(rows, ended, ended(last), started) : undefined;
  }));
  const lastEnd = ends.every((t) => t !== undefined)
    ? Math.max(...(ends as number[])) - started
    : wallS - 0.3;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  const sum = (f: (s: SippScreen) => number) => screens.reduce((a, s) => a + f(s), 0);
  const completed = sum(load.completed);
  const failed = sum((s) => s.failed);
  const shed = sum((s) => s.responses.get(503) ?? 0);
  const loadS = Math.max(o.durationS, lastEnd);
  return {
    server: server.name,
    transport: o.transport,
    op: load.op,
    rate: o.rate,
    offered: calls,
    completed,
    failed,
    unfinished: Math.max(0, calls - sum((s) => s.successful) - failed),
    shed,
    achievedPerSec: Math.round(completed / loadS),
    p50Ms: percentile(rtts, 0.5),
    p99Ms: percentile(rtts, 0.99),
    cpuUsPerOp: completed ? Math.round((cpuS * 1e6) / completed) : 0,
    cpuPct: Math.round((cpuS / wallS) * 100),
    peakMemMb: figures.peakMemMb,
    wallS: Math.round(wallS * 10) / 10,
    serverDrops: figures.serverDrops,
    clientDrops,
    generator: "sipp",
    clientCpuPct: Math.round((clientTicks.reduce((a, b) => a + b, 0) / 100 / wallS) * 100),
    serverWaitPct: figures.serverWaitPct,
  };
}

/** The pass rule for one step. */
export function judge(r: LoadRun): { passed: boolean; reason?: string } {
  const bad = r.failed + r.unfinished + r.shed;
  if (bad >= r.offered * 0.001) {
    return {
      passed: false,
      reason: `${r.failed} failed + ${r.unfinished} unfinished + ${r.shed} shed`,
    };
  }
  if (r.achievedPerSec < r.rate * 0.97) {
    return { passed: false, reason: `achieved ${r.achievedPerSec}/s < 97 % of ${r.rate}` };
  }
  if (r.p99Ms > 200) return { passed: false, reason: `p99 ${r.p99Ms} ms > 200` };
  return { passed: true };
}

export interface LadderOptions {
  transport: Transport;
  /** Default: REGISTER_LOAD. */
  load?: SippLoad;
  rates: number[];
  stepS: number;
  log?: (line: string) => void;
}

/** Climbs `rates` with every server alternately; a server stops at a rate failed twice. */
export async function runLadder(servers: Registrar[], o: LadderOptions): Promise<LadderResult> {
  const steps: LadderStep[] = [];
  const maxRate: Record<string, number> = {};
  const maxAchieved: Record<string, number> = {};
  const cpuUsAtMax: Record<string, number> = {};
  const climbing = new Set(servers.map((s) => s.name as string));
  for (const s of servers) maxRate[s.name] = 0;
  for (const rate of o.rates) {
    for (const server of servers) {
      if (!climbing.has(server.name)) continue;
      for (let attempt = 1; attempt <= 2; attempt++) {
        const run = await runLoad(server, {
          transport: o.transport,
          load: o.load,
          rate,
          durationS: o.stepS,
        });
        const verdict = judge(run);
        steps.push({ ...run, ...verdict, attempt });
        o.log?.(formatStep(steps.at(-1)!));
        if (verdict.passed) {
          maxRate[server.name] = rate;
          maxAchieved[server.name] = run.achievedPerSec;
          cpuUsAtMax[server.name] = run.cpuUsPerOp;
          break;
        }
        if (attempt === 2) climbing.delete(server.name);
        // Let a server that fell behind drain its backlog before the retry.
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
    if (climbing.size === 0) break;
  }
  const load = o.load ?? REGISTER_LOAD;
  return {
    transport: o.transport,
    op: load.op,
    title: load.title,
    rates: o.rates,
    stepS: o.stepS,
    steps,
    maxRate,
    maxAchieved,
    cpuUsAtMax,
    capped: [...climbing],
  };
}

export function formatStep(s: LadderStep | LoadRun): string {
  const verdict = "passed" in s
    ? (s.passed ? "pass" : `FAIL (${s.reason})`) + (s.attempt > 1 ? " (2)" : "")
    : "";
  return `${s.server.padEnd(8)} ${s.transport} ${String(s.rate).padStart(6)}/s ` +
    `achieved ${String(s.achievedPerSec).padStart(6)}/s  p50 ${s.p50Ms} p99 ${s.p99Ms} ms  ` +
    `fail ${s.failed} unfin ${s.unfinished} 503 ${s.shed}  cpu ${s.cpuPct}% ` +
    `${s.cpuUsPerOp} µs/${s.op}  mem ${s.peakMemMb} MB  drops srv/cli ${s.serverDrops}/` +
    `${s.clientDrops}  ${verdict}`;
}

/**
 * Summary lines: per load and transport, each server's limit with its p50/p99, CPU per
 * operation and peak memory at that step, side by side, and the ratio.
 */
export function formatLadders(ladders: LadderResult[]): string[] {
  const lines: string[] = [];
  for (const l of ladders) {
    const names = Object.keys(l.maxRate);
    const parts = names.map((n) => {
      const at = l.steps.findLast((s) => s.server === n && s.passed && s.rate === l.maxRate[n]);
      const detail = at
        ? `p50 ${at.p50Ms} / p99 ${at.p99Ms} ms, ${at.cpuUsPerOp} µs/${l.op}, ${at.peakMemMb} MB`
        : "no step passed";
      return `${n} ${l.maxRate[n]}/s${l.capped.includes(n) ? "+" : ""} (${detail})`;
    });
    const s = l.maxRate.sipws;
    const k = l.maxRate.kamailio;
    const ratio = s !== undefined && k ? `, ratio sipws/kamailio ${(s / k).toFixed(2)}` : "";
    lines.push(`open-loop ${l.title} ${l.transport}: ${parts.join(", ")}${ratio}`);
  }
  return lines;
}
