/**
 * @module The worker scaling benchmark: sipws with `--workers 1` and with `--workers N`
 * (default 2), each a real subprocess, under the same closed-loop REGISTER-with-digest load
 * over UDP and over TCP, measured side by side in one run (interleaved per transport, so
 * background load hits both alike). The load is sipp (bench/scenarios/register_digest.xml)
 * in `SIPP_INSTANCES` processes, each keeping its share of `concurrency` registrations in
 * flight (`-l`, no rate cap): sipp costs a fraction of the server's CPU per registration,
 * so on a small box the server, not the generator, sets the rate (bench/register_load.ts,
 * in Deno, costs about twice the server's CPU per registration and capped both
 * configurations alike). Reports registrations/s, server CPU µs per registration (every
 * thread), % CPU and the scaling factor (rate with N workers / rate with 1). Runs alone with
 * `deno run -A bench/workers_bench.ts [--duration=MS] [--workers=N] [--concurrency=N] [--connections=N]
 * [--root=DIR[#V8FLAGS] ...] [--warmup=MS] [--transport=udp|tcp] [--cpu-prof=DIR]
 * [--generator=sipp|register_flood] [--rate=N] [--rounds=N] [--nice=N]` (`--nice`: the servers' and the generator's
 * autogroup nice value, so they get the cores of a box shared with other work; `--rate`: offer N registrations/s,
 * register_flood's open loop or sipp's `-r`, so both configurations run at one rate; `--generator=register_flood`: the load of both
 * transports from bench/loadgen/register_flood.c, a closed loop at a fraction of sipp's CPU, over `--connections` source
 * ports or TCP connections, each keeping its share in flight; `--cpu-prof`: each server writes
 * a profile per thread when it stops; summarize with topself.py): with several `--root` trees (a before and an after), each tree's two
 * configurations run side by side with the others', interleaved per transport.
 */
import { groupTicks, processTicks, threadTicksByRole } from "./support/proc.ts";
import { loadConfig, seededStore, serveArgs } from "./support/sipws.ts";
import {
  parseScreen,
  REGISTER_LOAD,
  sippLoadArgs,
  type SippScreen,
} from "./support/sipp_ladder.ts";
import { BENCH_ACCOUNT } from "./support/registrars.ts";
import { spawnChild } from "../tests/support/process.ts";
import { freePorts, waitForListening } from "../tests/support/ports.ts";
import { SIPP } from "../tests/support/sipp.ts";
import { arg, argAll } from "./support/args.ts";
import { runFlood } from "./support/register_flood.ts";
import { SERVER_V8_FLAGS } from "../src/cli/v8_flags.ts";
import { switches } from "./workers_calls.ts";

const ROOT = new URL("../", import.meta.url).pathname;
/**
 * sipp processes by default: as many UDP source ports / TCP connections. The kernel spreads
 * connections over the threads listening (SO_REUSEPORT): with fewer, one thread often got
 * most of them (`--connections=2` is what the ladder's TCP load opens).
 */
const SIPP_INSTANCES = 8;

export interface WorkersPhase {
  workers: number;
  /** The sipws tree measured, when the run compares several (`--root`). */
  root?: string;
  transport: "udp" | "tcp";
  registrationsPerSec: number;
  /** Registrations that failed (sipp's failed calls) or were shed (503). */
  failures: number;
  /** Server CPU (every thread) per completed registration, µs. */
  cpuUsPerRegistration: number;
  /** Server CPU during the phase, % of one core. */
  cpuPct: number;
  /**
   * CPU µs per registration by thread role (main, worker threads, V8 platform, other), user
   * and system time apart.
   */
  threadsUs: Record<string, { user: number; system: number }>;
  /**
   * Sleeps (voluntary context switches, each a later wake-up) of the main and worker threads,
   * and preemptions of every thread, per 100 registrations.
   */
  switchesPer100?: { main: number; workers: number; preempted: number };
  /** TCP: the server's connections per thread halfway through, largest first. */
  connectionsPerThread?: number[];
  /** The generator's own CPU per registration, µs (what it takes of the box). */
  generatorUsPerRegistration?: number;
}

export interface WorkersBenchResult {
  workers: number;
  durationMs: number;
  concurrency: number;
  /** sipp processes: UDP sockets or TCP connections. */
  connections: number;
  /** What generated the load (of both transports). */
  generator?: "sipp" | "register_flood";
  phases: WorkersPhase[];
  /** Rate with N workers over the rate with 1, per transport (and tree: `udp root`). */
  scaling: Record<string, number>;
}

/**
 * Starts a server of tree `spec`: a directory, or `DIR#FLAG,FLAG` to add V8 flags to the
 * server's own (a variant measured side by side with the tree alone).
 */
async function startSipws(
  dir: string,
  workers: number,
  spec: string,
  cpuProf?: string,
  nice?: number,
) {
  const store = await seededStore(dir, [BENCH_ACCOUNT]);
  const [port] = freePorts(1);
  const [root, v8] = spec.split("#");
  const denoFlags = cpuProf ? ["--cpu-prof", `--cpu-prof-dir=${cpuProf}`] : [];
  if (v8) denoFlags.push(`--v8-flags=${[...SERVER_V8_FLAGS, v8].join(",")}`);
  const config = loadConfig(dir, root);
  const child = spawnChild(Deno.execPath(), {
    args: serveArgs({ store, udp: port, tcp: port, workers, config, denoFlags }),
    cwd: root,
  });
  if (nice !== undefined) prioritize(child.pid, nice);
  await waitForListening(port, "udp", 30_000);
  await waitForListening(port, "tcp", 30_000);
  return { child, port };
}

/**
 * The closed loop with bench/loadgen/register_flood.c instead of sipp: the same registrations
 * in flight over as many source ports (TCP: connections), at a fraction of sipp's CPU, so 2
 * workers on 2 cores are not capped by the generator's share.
 */
async function floodLoop(
  port: number,
  transport: "udp" | "tcp",
  concurrency: number,
  durationMs: number,
  sockets: number,
  rate?: number,
  nice?: number,
): Promise<{ registrations: number; failures: number; seconds: number; clientCpuS: number }> {
  const seconds = Math.max(1, durationMs / 1000);
  const r = await runFlood(port, {
    // A fixed rate (open loop), else only a bound on the registrations that may start.
    rate: rate ?? 200_000,
    seconds,
    concurrency: rate ? 0 : concurrency,
    sockets,
    transport,
    drainS: 2,
    started: nice === undefined ? undefined : (pid) => prioritize(pid, nice),
  });
  return {
    registrations: r.completed,
    failures: r.failed + r.shed,
    seconds: Math.max(seconds, r.lastEndS),
    clientCpuS: r.cpuS,
  };
}

/** The closed loop for about `durationMs`: registrations completed (200s), failed or shed. */
async function sippLoop(
  port: number,
  transport: "udp" | "tcp",
  concurrency: number,
  durationMs: number,
  instances: number,
  rate?: number,
  nice?: number,
): Promise<{ registrations: number; failures: number; seconds: number; clientCpuS?: number }> {
  const dir = await Deno.makeTempDir({ prefix: "sipws-wb-sipp-" });
  const ports = freePorts(instances);
  const seconds = Math.max(1, Math.round(durationMs / 1000));
  const t0 = performance.now();
  const children = ports.map((local) =>
    spawnChild(SIPP, {
      // The time bound: sipp ends at its -timeout, printing its last screen.
      args: [
        ...sippLoadArgs(REGISTER_LOAD, port, local, transport, seconds),
        // No rate cap unless one is given: each instance keeps its share of registrations in
        // flight (and offers its share of the rate).
        "-r",
        String(rate ? Math.max(1, Math.round(rate / instances)) : 100000),
        "-l",
        String(Math.max(1, Math.round(concurrency / instances))),
        "-m",
        "100000000",
      ],
      cwd: dir,
    })
  );
  if (nice !== undefined) { for (const c of children) prioritize(c.pid, nice); }
  // sipp's own CPU, read just before its -timeout ends it (an exited process has no /proc).
  let clientTicks = 0;
  const sampleMs = Math.max(100, seconds * 1000 - 250);
  const sampler = setTimeout(() => {
    for (const c of children) {
      try {
        clientTicks += processTicks(c.pid);
      } catch { /* exited */ }
    }
  }, sampleMs);
  try {
    await Promise.all(children.map((c) => c.wait((seconds + 10) * 1000).catch(() => {})));
  } finally {
    clearTimeout(sampler);
    await Promise.all(children.map((c) => c.stop()));
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  const elapsed = (performance.now() - t0) / 1000;
  const screens = children.map((c) => parseScreen(c.stdout));
  const sum = (f: (s: SippScreen) => number) => screens.reduce((a, s) => a + f(s), 0);
  return {
    registrations: sum(REGISTER_LOAD.completed),
    failures: sum((s) => s.failed + (s.responses.get(503) ?? 0)),
    seconds: elapsed,
    // Over the whole run, from the share sampled before the end.
    ...(clientTicks > 0 ? { clientCpuS: clientTicks / 100 * (seconds * 1000 / sampleMs) } : {}),
  };
}

export async function runWorkersBench(options: {
  workers?: number;
  durationMs?: number;
  warmupMs?: number;
  concurrency?: number;
  /** sipp processes (UDP sockets, TCP connections); `SIPP_INSTANCES` by default. */
  connections?: number;
  /** Times each phase runs, interleaved with the others' (a loaded box varies). */
  rounds?: number;
  /** sipws trees to measure side by side; this one when none. */
  roots?: string[];
  /** Transports measured; both by default. */
  transports?: ("udp" | "tcp")[];
  /** Directory where each server writes CPU profiles (every thread's) when it stops. */
  cpuProf?: string;
  /**
   * Directory where `perf record` (cpu-clock, every thread) writes each measured loop; read
   * with `perf report -i FILE --sort comm,dso` (thread and code: the JIT's, deno's, kernel).
   */
  perfDir?: string;
  /** The load's generator: sipp (default) or bench/loadgen/register_flood.c (both transports). */
  generator?: "sipp" | "register_flood";
  /**
   * Offer this many registrations/s instead of the closed loop (register_flood: open loop;
   * sipp: each instance's share as its `-r`, still bounded by its share of `concurrency`), so
   * both configurations run at the same rate and their CPU per registration compares without
   * the rate's own effect.
   */
  rate?: number;
  /**
   * The autogroup nice value (-20..19) of the servers and the generator (each runs in a
   * session of its own), so on a box shared with other work the measured processes get the
   * cores: a negative value takes them from everything else on the box while it runs.
   */
  nice?: number;
  log?: (line: string) => void;
} = {}): Promise<WorkersBenchResult> {
  const n = options.workers ?? 2;
  const durationMs = options.durationMs ?? 5000;
  const warmupMs = options.warmupMs ?? 2000;
  const concurrency = options.concurrency ?? 200;
  const instances = options.connections ?? SIPP_INSTANCES;
  const roots = options.roots?.length ? options.roots : [ROOT];
  const generator = options.generator ?? "sipp";
  const named = roots.length > 1;
  const configs = roots.flatMap((root) => [1, n].map((workers) => ({ root, workers })));
  const dirs = await Promise.all(configs.map(() => Deno.makeTempDir({ prefix: "sipws-wb-" })));
  const servers = [];
  const phases: WorkersPhase[] = [];
  try {
    for (const [i, { root, workers }] of configs.entries()) {
      servers.push(await startSipws(dirs[i], workers, root, options.cpuProf, options.nice));
    }
    const rounds = Math.max(1, options.rounds ?? 1);
    for (const transport of options.transports ?? ["udp", "tcp"] as const) {
      for (let round = 0; round < rounds; round++) {
        for (const [i, { root, workers }] of configs.entries()) {
          const { child, port } = servers[i];
          const loop = (ms: number) =>
            generator === "register_flood"
              ? floodLoop(port, transport, concurrency, ms, instances, options.rate, options.nice)
              : sippLoop(port, transport, concurrency, ms, instances, options.rate, options.nice);
          if (warmupMs > 0) await loop(warmupMs);
          const ticks0 = groupTicks(child.pid);
          const roles0 = threadTicksByRole(child.pid);
          const switches0 = switches(child.pid);
          // Halfway through, which thread holds which TCP connection (SO_REUSEPORT's spread).
          let split: number[] = [];
          const probe = transport === "tcp"
            ? setTimeout(() => split = connectionsPerThread(child.pid, port), durationMs / 2)
            : undefined;
          // perf's sampler over the measured loop, every thread (`--perf=DIR`).
          const perf = options.perfDir
            ? spawnChild("perf", {
              args: [
                "record",
                "-q",
                "-e",
                "cpu-clock",
                "-F",
                "1999",
                "-p",
                String(child.pid),
                "-o",
                `${options.perfDir}/${
                  configs.length > 2 ? i : ""
                }w${workers}-${transport}-r${round}.data`,
              ],
            })
            : undefined;
          const r = await loop(durationMs);
          clearTimeout(probe);
          if (perf) {
            Deno.kill(perf.pid, "SIGINT");
            await perf.wait(10_000).catch(() => {});
          }
          const switches1 = switches(child.pid);
          const cpuSeconds = (groupTicks(child.pid) - ticks0) / 100;
          const roles = threadTicksByRole(child.pid);
          const perReg = (ticks: number) =>
            r.registrations > 0 ? Math.round((ticks / 100) * 1e6 / r.registrations) : 0;
          const threadsUs: WorkersPhase["threadsUs"] = {};
          for (const [role, ticks] of Object.entries(roles)) {
            const before = roles0[role as keyof typeof roles0];
            threadsUs[role] = {
              user: perReg(ticks.user - before.user),
              system: perReg(ticks.system - before.system),
            };
          }
          const phase: WorkersPhase = {
            workers,
            ...(named ? { root } : {}),
            transport,
            registrationsPerSec: Math.round(r.registrations / r.seconds),
            failures: r.failures,
            cpuUsPerRegistration: r.registrations > 0
              ? Math.round((cpuSeconds * 1e6) / r.registrations)
              : 0,
            cpuPct: Math.round((cpuSeconds / r.seconds) * 100),
            threadsUs,
            ...(r.clientCpuS !== undefined && r.registrations > 0
              ? { generatorUsPerRegistration: Math.round(r.clientCpuS * 1e6 / r.registrations) }
              : {}),
            ...(split.length ? { connectionsPerThread: split } : {}),
            switchesPer100: {
              main: per100(switches1.main - switches0.main, r.registrations),
              workers: per100(switches1.workers - switches0.workers, r.registrations),
              preempted: per100(switches1.preempted - switches0.preempted, r.registrations),
            },
          };
          phases.push(phase);
          options.log?.(
            `${
              named ? root + " " : ""
            }workers=${workers} ${transport}: ${phase.registrationsPerSec} reg/s, ` +
              `${phase.cpuUsPerRegistration} µs CPU/reg (${
                Object.entries(threadsUs).map(([k, v]) => `${k} ${v.user}+${v.system}`).join(", ")
              }), ${phase.cpuPct}% CPU, per 100 reg: sleeps main ${phase.switchesPer100?.main} ` +
              `workers ${phase.switchesPer100?.workers}, preempted ${phase.switchesPer100?.preempted}` +
              (phase.generatorUsPerRegistration !== undefined
                ? `, generator ${phase.generatorUsPerRegistration} µs/reg`
                : "") +
              (phase.connectionsPerThread
                ? `, connections per thread ${phase.connectionsPerThread.join("/")}`
                : ""),
          );
        }
      }
    }
  } finally {
    for (const s of servers) await s.child.stop();
    for (const dir of dirs) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  const scaling: Record<string, number> = {};
  for (const t of ["udp", "tcp"]) {
    for (const root of roots) {
      // Over every round: the rates summed.
      const rate = (w: number) =>
        phases.filter((p) => p.transport === t && p.workers === w && (p.root ?? ROOT) === root)
          .reduce((sum, p) => sum + p.registrationsPerSec, 0);
      const one = rate(1);
      const many = rate(n);
      if (one > 0 && many > 0) {
        scaling[named ? `${t} ${root}` : t] = Math.round((many / one) * 100) / 100;
      }
    }
  }
  return {
    workers: n,
    durationMs,
    concurrency,
    connections: instances,
    generator,
    phases,
    scaling,
  };
}

/**
 * How the server's established TCP connections on `port` are spread over its threads: each
 * thread's runtime polls its sockets through an epoll instance of its own, and
 * /proc/PID/fdinfo of an epoll lists the descriptors it watches (`tfd:`). Counts per epoll
 * holding any, largest first (e.g. [5, 3]); empty when /proc cannot tell.
 */
export function connectionsPerThread(pid: number, port: number): number[] {
  try {
    const inodes = new Set<string>();
    const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
    for (const table of ["tcp", "tcp6"]) {
      let text = "";
      try {
        text = Deno.readTextFileSync(`/proc/${pid}/net/${table}`);
      } catch {
        continue;
      }
      for (const line of text.split("\n").slice(1)) {
        const f = line.trim().split(/\s+/);
        // local_address ends with :PORT; st 01 is ESTABLISHED; field 9 the inode.
        if (f.length > 9 && f[1].endsWith(":" + hexPort) && f[3] === "01") inodes.add(f[9]);
      }
    }
    const conns = new Set<string>();
    const epolls: string[] = [];
    for (const e of Deno.readDirSync(`/proc/${pid}/fd`)) {
      let target = "";
      try {
        target = Deno.readLinkSync(`/proc/${pid}/fd/${e.name}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m && inodes.has(m[1])) conns.add(e.name);
      else if (target === "anon_inode:[eventpoll]") epolls.push(e.name);
    }
    // A thread may watch its sockets from more than one epoll: one entry per distinct set.
    const sets = new Set<string>();
    for (const fd of epolls) {
      let info = "";
      try {
        info = Deno.readTextFileSync(`/proc/${pid}/fdinfo/${fd}`);
      } catch {
        continue;
      }
      const watched = [...info.matchAll(/^tfd:\s+(\d+)/gm)].map((m) => m[1]);
      const held = watched.filter((tfd) => conns.has(tfd)).sort();
      if (held.length > 0) sets.add(held.join(","));
    }
    return [...sets].map((set) => set.split(",").length).sort((a, b) => b - a);
  } catch {
    return [];
  }
}

/** Sets the nice value of `pid`'s autogroup (its session's: Linux's CFS weighs groups). */
export function prioritize(pid: number, nice: number): void {
  Deno.writeTextFileSync(`/proc/${pid}/autogroup`, String(nice));
}

const per100 = (n: number, registrations: number) =>
  registrations > 0 ? Math.round(n * 1000 / registrations) / 10 : 0;

export function formatWorkersBench(r: WorkersBenchResult): string[] {
  const header = "workers  transport  reg/s  fail  cpu%  µs CPU/reg  main  worker thr  v8";
  const lines = [header, "-".repeat(header.length)];
  const us = (p: WorkersPhase, role: string) => {
    const t = p.threadsUs[role];
    return t ? t.user + t.system : 0;
  };
  for (const p of r.phases) {
    lines.push(
      `${String(p.workers).padStart(7)}  ${p.transport.padEnd(9)} ${
        String(p.registrationsPerSec).padStart(6)
      } ${String(p.failures).padStart(5)} ${String(p.cpuPct).padStart(5)} ${
        String(p.cpuUsPerRegistration).padStart(11)
      } ${String(us(p, "main")).padStart(5)} ${String(us(p, "workers")).padStart(11)} ${
        String(us(p, "v8")).padStart(3)
      }${p.root ? "  " + p.root : ""}`,
    );
  }
  for (const [t, v] of Object.entries(r.scaling)) {
    lines.push(`scaling ${t} (${r.workers} workers / 1): ${v}`);
  }
  return lines;
}

/** How the figures of a run were taken, for its RESULTS.md section. */
export function workersProse(r: WorkersBenchResult): string[] {
  return [
    `REGISTER with digest, closed loop: ${
      r.generator === "register_flood" ? "bench/loadgen/register_flood.c over UDP and TCP" : "sipp"
    }, ${r.concurrency} registrations in flight over ` +
    `${r.connections} sockets/connections, ${r.durationMs} ms per phase, both servers side ` +
    "by side. CPU is the server process's (every thread) per completed registration.",
  ];
}

if (import.meta.main) {
  const result = await runWorkersBench({
    workers: Number(arg("workers") ?? 2),
    durationMs: Number(arg("duration") ?? 5000),
    concurrency: Number(arg("concurrency") ?? 200),
    connections: arg("connections") ? Number(arg("connections")) : undefined,
    roots: argAll("root"),
    rounds: Number(arg("rounds") ?? 1),
    warmupMs: arg("warmup") ? Number(arg("warmup")) : undefined,
    transports: arg("transport") ? [arg("transport") as "udp" | "tcp"] : undefined,
    cpuProf: arg("cpu-prof"),
    perfDir: arg("perf"),
    generator: arg("generator") === "register_flood" ? "register_flood" : "sipp",
    rate: arg("rate") ? Number(arg("rate")) : undefined,
    nice: arg("nice") ? Number(arg("nice")) : undefined,
    log: (line) => console.error(line),
  });
  console.log(formatWorkersBench(result).join("\n"));
  console.log(JSON.stringify(result));
}
