/**
 * @module Calls at a fixed rate through sipws with `--workers 1` and `--workers 2`, several
 * trees side by side (a before and an after), interleaved round by round: CPU µs per call by
 * thread (main, worker threads, V8's platform threads; /proc/PID/task) over a window of the
 * UAC's run, so each configuration is compared at the same offered rate (a thread woken for
 * fewer messages pays more per message). The rig is call_bench's (sipp UAS registered as bob,
 * sipp UAC calling through the server, bench/support/call_rig.ts). `--generator=call_flood`
 * drives the calls with bench/loadgen/call_flood.c instead (UDP; caller and callee in one C
 * process, each call authenticated with a 407 as in the call ladder): a closed loop of
 * `--concurrency` calls in flight (saturation), or `--rate` calls/s when given, at a fraction
 * of the two sipp processes' CPU, so the second core is the server's to use. `--cpu-prof=DIR`
 * writes each server's per-thread V8 profiles (summarize with topself.py). Not part of the
 * product; `deno run -A bench/workers_calls.ts [--root=DIR ...] [--workers=1,2] [--rate=2000]
 * [--seconds=8] [--rounds=2] [--transport=udp|tcp] [--generator=sipp|call_flood]
 * [--concurrency=50] [--cpu-prof=DIR] [--nice=N]` (`--nice`: the server's and call_flood's
 * autogroup nice value, as in workers_bench.ts, so they get the cores of a box shared with
 * other work; `--v8-flags=F,...`: V8 flags added to the server's own).
 */
import { processTicks, threadTicksByRole } from "./support/proc.ts";
import { loadConfig, seededStore, serveArgs } from "./support/sipws.ts";
import { BOB, type ServerUnderTest } from "./support/call_servers.ts";
import { type CallFloodReport, runCallFlood } from "./support/call_flood.ts";
import { BENCH_ACCOUNT } from "./support/registrars.ts";
import { prioritize } from "./workers_bench.ts";
import { rigAround, runUac } from "./support/call_rig.ts";
import { spawnChild } from "../tests/support/process.ts";
import { freePorts, waitForListening } from "../tests/support/ports.ts";
import { arg, argAll } from "./support/args.ts";
import { SERVER_V8_FLAGS } from "../src/cli/v8_flags.ts";

const HERE = new URL("../", import.meta.url).pathname;
const US_PER_TICK = 10_000;

/** sipws from `root` with `workers`, the callee's and (for call_flood) the caller's accounts. */
async function startServer(
  root: string,
  workers: number,
  cpuProf?: string,
  v8Flags?: string,
): Promise<ServerUnderTest> {
  const dir = await Deno.makeTempDir({ prefix: "sipws-wcalls-" });
  const store = await seededStore(dir, [BOB, BENCH_ACCOUNT]);
  const [port] = freePorts(1);
  const child = spawnChild(Deno.execPath(), {
    args: serveArgs({
      store,
      config: loadConfig(dir, root),
      udp: port,
      tcp: port,
      workers,
      denoFlags: [
        ...(cpuProf ? ["--cpu-prof", `--cpu-prof-dir=${cpuProf}`] : []),
        ...(v8Flags ? [`--v8-flags=${[...SERVER_V8_FLAGS, v8Flags].join(",")}`] : []),
      ],
    }),
    cwd: root,
  });
  await waitForListening(port, "udp", 30_000);
  await waitForListening(port, "tcp", 30_000);
  const server: ServerUnderTest = {
    name: "sipws",
    child,
    port,
    dir,
    memoryKb: () => 0,
    // A profiled server gets time to write its profiles on the way out.
    stop: async () => void await child.stop(cpuProf ? 30_000 : 2000),
  };
  return server;
}

/**
 * Voluntary context switches (sleeps: each later wake-up) of the main and worker threads, and
 * involuntary ones (preempted while runnable) of every thread of the process.
 */
export function switches(pid: number) {
  const out = { main: 0, workers: 0, preempted: 0 };
  for (const e of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      const status = Deno.readTextFileSync(`/proc/${pid}/task/${e.name}/status`);
      const n = Number(/\nvoluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0);
      out.preempted += Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0);
      if (Number(e.name) === pid) out.main += n;
      else if (/Name:\s+worker-/.test(status)) out.workers += n;
    } catch { /* the thread ended */ }
  }
  return out;
}

type Roles = ReturnType<typeof threadTicksByRole> & {
  switches: ReturnType<typeof switches>;
  /** The generator's CPU ticks (the sipp UAS; 0 for call_flood, which reports its own). */
  uas: number;
};
const sample = (pid: number, uas?: number): Roles => ({
  ...threadTicksByRole(pid),
  switches: switches(pid),
  uas: uas ? processTicks(uas) : 0,
});
type Role = "main" | "workers" | "v8" | "other";
const total = (r: Roles, k: Role) => r[k].user + r[k].system;

interface Options {
  workers: number;
  /** Calls/s offered; call_flood without it: the closed loop of `concurrency`. */
  rate?: number;
  seconds: number;
  transport: "udp" | "tcp";
  generator: "sipp" | "call_flood";
  concurrency: number;
  cpuProf?: string;
  /** The autogroup nice value of the server and call_flood (workers_bench.ts `--nice`). */
  nice?: number;
  /** V8 flags added to the server's own (src/cli/v8_flags.ts). */
  v8Flags?: string;
}

/** Per-call figures of the server's threads between two samples over `calls` calls. */
function perCall(before: Roles, after: Roles, calls: number, ms: number) {
  const per = (k: Role) => (total(after, k) - total(before, k)) * US_PER_TICK / calls;
  const sys = (k: Role) => (after[k].system - before[k].system) * US_PER_TICK / calls;
  const all = per("main") + per("workers") + per("v8") + per("other");
  return {
    usPerCall: all,
    main: per("main"),
    mainSys: sys("main"),
    worker: per("workers"),
    workerSys: sys("workers"),
    v8: per("v8"),
    other: per("other"),
    mainWakes: (after.switches.main - before.switches.main) / calls,
    workerWakes: (after.switches.workers - before.switches.workers) / calls,
    preempted: (after.switches.preempted - before.switches.preempted) / calls,
    /** The generator's CPU per call: the sipp UAS's, or call_flood's own (UAC and UAS). */
    generatorUs: (after.uas - before.uas) * US_PER_TICK / calls,
    callsPerSec: calls * 1000 / ms,
    cpuPct: all * calls / ms / 10,
  };
}

export type WorkersCallsPhase = ReturnType<typeof perCall> & {
  root: string;
  workers: number;
  completed: number;
  failed: number;
  /** Of the failed, refused with 503 by the server shedding load (call_flood only). */
  shed: number;
  loadavg: string;
};

const loadavg = () => Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");

/** One configuration with sipp: a warm-up, then CPU from the first to the last stats row. */
async function sippPhase(server: ServerUnderTest, o: Options, rate: number) {
  const rig = await rigAround(server, server.dir, o.transport);
  const pid = server.child.pid;
  const uasPid = rig.uas.child.pid;
  try {
    // Warm-up (JIT) at the same rate, then the measured run.
    await runUac(rig, { rate, calls: rate * 3, holdMs: 0 });
    let before: Roles | undefined;
    let after: Roles | undefined;
    let c0 = 0;
    let c1 = 0;
    let t0 = 0;
    let t1 = 0;
    const run = await runUac(rig, {
      rate,
      calls: rate * o.seconds,
      holdMs: 0,
      // From the first statistics row to the last: CPU over the calls completed between.
      onRow: (row) => {
        const now = performance.now();
        if (!before) [before, c0, t0] = [sample(pid, uasPid), row.successful, now];
        else [after, c1, t1] = [sample(pid, uasPid), row.successful, now];
        return Promise.resolve();
      },
    });
    const last = run.rows.at(-1);
    if (!before || !after) throw new Error("no statistics rows");
    return {
      ...perCall(before, after, c1 - c0, t1 - t0),
      completed: last ? last.successful : 0,
      failed: last ? last.failed : 0,
      shed: 0,
    };
  } finally {
    await rig.uas.stop();
  }
}

/** One configuration with call_flood: a 3 s warm-up run, then the measured run's CPU. */
async function floodPhase(server: ServerUnderTest, o: Options) {
  const pid = server.child.pid;
  // One callee port for both runs, so the callee's binding is the same one.
  const [uasPort] = freePorts(1);
  const run = (seconds: number) =>
    runCallFlood(server.port, {
      rate: o.rate ?? 100_000,
      concurrency: o.rate ? 0 : o.concurrency,
      seconds,
      drainS: 5,
      uasPort,
      started: o.nice === undefined ? undefined : (pid) => prioritize(pid, o.nice!),
      caller: BENCH_ACCOUNT,
      callee: { user: BOB.user, password: BOB.password },
    });
  await run(3);
  const before = sample(pid);
  const t0 = performance.now();
  const r: CallFloodReport = await run(o.seconds);
  const ms = performance.now() - t0;
  const after = sample(pid);
  return {
    ...perCall(before, after, r.completed, ms),
    // The generator's own rate (its first call to its last) and CPU per call.
    callsPerSec: r.callsPerSec,
    generatorUs: r.cpuUsPerCall,
    completed: r.completed,
    failed: r.failed,
    shed: r.shed,
  };
}

async function phase(root: string, o: Options): Promise<WorkersCallsPhase> {
  const server = await startServer(root, o.workers, o.cpuProf, o.v8Flags);
  if (o.nice !== undefined) prioritize(server.child.pid, o.nice);
  const load = loadavg();
  try {
    const p = o.generator === "call_flood"
      ? await floodPhase(server, o)
      : await sippPhase(server, o, o.rate ?? 2000);
    return { ...p, root, workers: o.workers, loadavg: load };
  } finally {
    await server.stop();
    if (o.v8Flags?.includes("--trace-gc")) console.log(gcCounts(server.child.stdout));
    await Deno.remove(server.dir, { recursive: true }).catch(() => {});
  }
}

/** With `--v8-flags=--trace-gc`: mark-compacts per isolate over the server's life, forced ones. */
function gcCounts(trace: string): string {
  const byIsolate = new Map<string, { compacts: number; forced: number }>();
  for (const m of trace.matchAll(/\[\d+:(0x[0-9a-f]+)\][^\n]*Mark-Compact[^\n]*/g)) {
    const n = byIsolate.get(m[1]) ?? { compacts: 0, forced: 0 };
    n.compacts++;
    if (m[0].includes("testing")) n.forced++; // gc() of the heap governor
    byIsolate.set(m[1], n);
  }
  return "  mark-compacts (forced) per isolate: " +
    [...byIsolate.values()].map((n) => `${n.compacts} (${n.forced})`).join(", ");
}

/** Every phase of `rounds` rounds, configurations interleaved within each round. */
export async function runWorkersCalls(
  o: Omit<Options, "workers"> & {
    roots: string[];
    workersList: number[];
    rounds: number;
    log?: (p: WorkersCallsPhase, round: number) => void;
  },
): Promise<WorkersCallsPhase[]> {
  const out: WorkersCallsPhase[] = [];
  for (let r = 0; r < o.rounds; r++) {
    for (const workers of o.workersList) {
      for (const root of o.roots) {
        const p = await phase(root, { ...o, workers });
        out.push(p);
        o.log?.(p, r + 1);
      }
    }
  }
  return out;
}

const f = (n: number) => n.toFixed(0).padStart(4);

export function formatPhase(p: WorkersCallsPhase, round: number, generator: string): string {
  return `round ${round} w=${p.workers} ${p.root.padEnd(24)} ${f(p.usPerCall)} µs/call ` +
    `(main ${f(p.main)} [sys ${f(p.mainSys)}] worker ${f(p.worker)} [sys ${f(p.workerSys)}] ` +
    `v8 ${f(p.v8)} other ${f(p.other)}) sleeps/call main ${p.mainWakes.toFixed(1)} ` +
    `worker ${p.workerWakes.toFixed(1)}, preempted ${p.preempted.toFixed(2)}, ` +
    `${generator === "sipp" ? "UAS sipp" : "call_flood"} ${f(p.generatorUs)} µs/call, ` +
    `${p.cpuPct.toFixed(0)} % CPU at ${p.callsPerSec.toFixed(0)} calls/s, ` +
    `${p.completed} ok ${p.failed} failed${p.shed ? ` (${p.shed} shed)` : ""}, load ${p.loadavg}`;
}

/** Calls/s with the most workers over calls/s with the fewest, each summed over the rounds. */
export function callsScaling(phases: WorkersCallsPhase[]): number {
  const ws = phases.map((p) => p.workers);
  const sum = (w: number) =>
    phases.filter((p) => p.workers === w).reduce((s, p) => s + p.callsPerSec, 0);
  return sum(Math.max(...ws)) / sum(Math.min(...ws));
}

if (import.meta.main) {
  const roots = argAll("root");
  if (roots.length === 0) roots.push(HERE);
  const generator = arg("generator") === "call_flood" ? "call_flood" : "sipp";
  const rateArg = arg("rate");
  const o = {
    roots,
    workersList: (arg("workers") ?? "1,2").split(",").map(Number),
    rate: rateArg ? Number(rateArg) : generator === "sipp" ? 2000 : undefined,
    seconds: Number(arg("seconds") ?? 8),
    rounds: Number(arg("rounds") ?? 2),
    transport: (arg("transport") ?? "udp") as "udp" | "tcp",
    generator: generator as Options["generator"],
    concurrency: Number(arg("concurrency") ?? 50),
    cpuProf: arg("cpu-prof"),
    nice: arg("nice") === undefined ? undefined : Number(arg("nice")),
    v8Flags: arg("v8-flags"),
  } as const;
  if (generator === "call_flood" && o.transport !== "udp") {
    throw new Error("--generator=call_flood drives UDP only");
  }
  console.log(
    `calls ${
      o.rate ? `at ${o.rate}/s` : `closed loop, ${o.concurrency} in flight`
    } (${generator}) for ${o.seconds} s, ${o.transport}, ${o.rounds} rounds`,
  );
  const phases = await runWorkersCalls({
    ...o,
    log: (p, round) => console.log(formatPhase(p, round, generator)),
  });
  // At a fixed offered rate both configurations serve that rate: no scaling to read.
  if (o.workersList.length > 1 && !o.rate) {
    console.log(`calls/s scaling (summed over rounds): x${callsScaling(phases).toFixed(2)}`);
  }
}
