/**
 * @module Calls at a fixed rate through sipws with `--workers 1` and `--workers 2`, several
 * trees side by side (a before and an after), interleaved round by round: CPU µs per call by
 * thread (main, worker threads, V8's platform threads; /proc/PID/task) over a window of the
 * UAC's run, so each configuration is compared at the same offered rate (a thread woken for
 * fewer messages pays more per message). The rig is call_bench's (sipp UAS registered as bob,
 * sipp UAC calling through the server, bench/support/call_rig.ts). `--cpu-prof=DIR` writes
 * each server's per-thread V8 profiles (summarize with topself.py). Not part of the product;
 * `deno run -A bench/workers_calls.ts [--root=DIR ...] [--workers=1,2] [--rate=2000]
 * [--seconds=8] [--rounds=2] [--transport=udp|tcp] [--cpu-prof=DIR]`.
 */
import { processTicks, threadTicksByRole } from "./support/proc.ts";
import { loadConfig, seededStore, serveArgs } from "./support/sipws.ts";
import { BOB, type ServerUnderTest } from "./support/call_servers.ts";
import { type Rig, rigAround, runUac } from "./support/call_rig.ts";
import { spawnChild } from "../tests/support/process.ts";
import { freePorts, waitForListening } from "../tests/support/ports.ts";
import { arg, argAll } from "./support/args.ts";

const HERE = new URL("../", import.meta.url).pathname;
const US_PER_TICK = 10_000;

async function startRig(
  root: string,
  workers: number,
  transport: "udp" | "tcp",
  cpuProf?: string,
): Promise<Rig> {
  const dir = await Deno.makeTempDir({ prefix: "sipws-wcalls-" });
  const store = await seededStore(dir, [BOB]);
  const [port] = freePorts(1);
  const child = spawnChild(Deno.execPath(), {
    args: serveArgs({
      store,
      config: loadConfig(dir, root),
      udp: port,
      tcp: port,
      workers,
      denoFlags: cpuProf ? ["--cpu-prof", `--cpu-prof-dir=${cpuProf}`] : [],
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
  return await rigAround(server, dir, transport);
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
  uas: number;
};
const sample = (pid: number, uas: number): Roles => ({
  ...threadTicksByRole(pid),
  switches: switches(pid),
  uas: processTicks(uas),
});
type Role = "main" | "workers" | "v8" | "other";
const total = (r: Roles, k: Role) => r[k].user + r[k].system;

async function phase(
  root: string,
  workers: number,
  rate: number,
  seconds: number,
  transport: "udp" | "tcp",
  cpuProf?: string,
) {
  const rig = await startRig(root, workers, transport, cpuProf);
  const pid = rig.server.child.pid;
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
      calls: rate * seconds,
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
    const completed = last ? last.successful : 0;
    const failed = last ? last.failed : 0;
    if (!before || !after) throw new Error("no statistics rows");
    const calls = c1 - c0;
    const per = (k: Role) => (total(after!, k) - total(before!, k)) * US_PER_TICK / calls;
    const all = per("main") + per("workers") + per("v8") + per("other");
    const sys = (k: Role) => (after![k].system - before![k].system) * US_PER_TICK / calls;
    return {
      root,
      workers,
      completed,
      failed,
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
      uasUs: (after.uas - before.uas) * US_PER_TICK / calls,
      callsPerSec: calls * 1000 / (t1 - t0),
      cpuPct: all * calls / (t1 - t0) / 10,
    };
  } finally {
    await rig.uas.stop();
    await rig.server.stop();
    await Deno.remove(rig.server.dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  const roots = argAll("root");
  if (roots.length === 0) roots.push(HERE);
  const workersList = (arg("workers") ?? "1,2").split(",").map(Number);
  const rate = Number(arg("rate") ?? 2000);
  const seconds = Number(arg("seconds") ?? 8);
  const rounds = Number(arg("rounds") ?? 2);
  const transport = (arg("transport") ?? "udp") as "udp" | "tcp";
  const cpuProf = arg("cpu-prof");
  console.log(`calls at ${rate}/s for ${seconds} s, ${transport}, ${rounds} rounds`);
  for (let r = 0; r < rounds; r++) {
    for (const workers of workersList) {
      for (const root of roots) {
        const p = await phase(root, workers, rate, seconds, transport, cpuProf);
        const f = (n: number) => n.toFixed(0).padStart(4);
        console.log(
          `round ${r + 1} w=${workers} ${root.padEnd(24)} ${f(p.usPerCall)} µs/call ` +
            `(main ${f(p.main)} [sys ${f(p.mainSys)}] worker ${f(p.worker)} [sys ${
              f(p.workerSys)
            }] ` +
            `v8 ${f(p.v8)} other ${f(p.other)}) sleeps/call main ${p.mainWakes.toFixed(1)} ` +
            `worker ${p.workerWakes.toFixed(1)}, preempted ${p.preempted.toFixed(2)}, UAS sipp ${
              f(p.uasUs)
            } µs/call, ` +
            `${p.cpuPct.toFixed(0)} % CPU at ${p.callsPerSec.toFixed(0)} calls/s, ` +
            `${p.completed} ok ${p.failed} failed`,
        );
      }
    }
  }
}
