/**
 * @module Hot-path A/B harness for sipws alone: starts one sipws subprocess per source tree
 * given (`--root=DIR`, repeatable; default this checkout), drives each with the REGISTER
 * load of bench/register_load.ts over UDP and TCP in interleaved rounds, and prints reg/s,
 * p50/p99, server CPU% and RSS per tree and round, so a change is compared with its
 * baseline under the same background load. `--profile=DIR` runs the (single) server with
 * `--cpu-prof`, stops it with SIGINT so V8 writes the profile, and prints the functions with
 * the most self time. `--rss-probe` adds, for UDP, the RSS right after a run and 40 s later
 * (Timer J = 64·T1 has let every Completed transaction go). Flags: `--duration=MS` (default
 * 4000), `--warmup=MS` (1000), `--rounds=N` (2), `--concurrency=N` (20),
 * `--transports=udp,tcp`. Not part of the product; every phase is bounded in time.
 */
import { runRegisterLoad } from "./register_load.ts";
import { processTicks, rssMb, threadTicksByRole } from "./support/proc.ts";
import { loadConfig, seededStore, serveArgs } from "./support/sipws.ts";
import { type ChildProcess, spawnChild } from "../tests/support/process.ts";
import { freePorts, waitForListening } from "../tests/support/ports.ts";
import { arg, argAll } from "./support/args.ts";
import { BENCH_ACCOUNT } from "./support/register_texts.ts";

const args = Deno.args;

const DURATION = Number(arg("duration") ?? 4000);
const WARMUP = Number(arg("warmup") ?? 1000);
const ROUNDS = Number(arg("rounds") ?? 2);
const CONCURRENCY = Number(arg("concurrency") ?? 20);
const TRANSPORTS = (arg("transports") ?? "udp,tcp").split(",") as ("udp" | "tcp")[];
const PROFILE = arg("profile");
const ROOTS = argAll("root").length ? argAll("root") : [new URL("../", import.meta.url).pathname];

interface Server {
  root: string;
  child: ChildProcess;
  port: number;
  dir: string;
}

async function start(root: string): Promise<Server> {
  const dir = await Deno.makeTempDir({ prefix: "sipws-hot-" });
  const store = await seededStore(dir, [BENCH_ACCOUNT]);
  const [port] = freePorts(1);
  const denoFlags = PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${PROFILE}`] : [];
  const child = spawnChild(Deno.execPath(), {
    args: serveArgs({ store, config: loadConfig(dir, root), udp: port, tcp: port, denoFlags }),
    cwd: root,
  });
  await waitForListening(port, "udp", 30_000);
  await waitForListening(port, "tcp", 30_000);
  return { root, child, port, dir };
}

async function measure(s: Server, transport: "udp" | "tcp") {
  const base = {
    host: "127.0.0.1",
    port: s.port,
    transport,
    ...BENCH_ACCOUNT,
    concurrency: CONCURRENCY,
    connections: 2,
  };
  if (WARMUP > 0) await runRegisterLoad({ ...base, durationMs: WARMUP });
  const t0 = processTicks(s.child.pid);
  const sys0 = systemTicks(s.child.pid);
  const w0 = performance.now();
  const r = await runRegisterLoad({ ...base, durationMs: DURATION });
  const secs = (performance.now() - w0) / 1000;
  const ticks = processTicks(s.child.pid) - t0;
  const sys = systemTicks(s.child.pid) - sys0;
  const cpu = Math.round(ticks / secs);
  // Server CPU time per completed registration: steadier than reg/s on a shared machine.
  const usPerReg = r.registrations ? Math.round((ticks * 10_000) / r.registrations) : 0;
  const sysUsPerReg = r.registrations ? Math.round((sys * 10_000) / r.registrations) : 0;
  return { ...r, cpu, usPerReg, sysUsPerReg, rss: rssMb(s.child.pid) };
}

/** Kernel time of every thread of `pid`, in clock ticks. */
function systemTicks(pid: number): number {
  return Object.values(threadTicksByRole(pid)).reduce((sum, t) => sum + t.system, 0);
}

function summarizeProfile(dir: string): void {
  const files = [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".cpuprofile"));
  if (files.length === 0) {
    console.log(`no .cpuprofile written in ${dir}`);
    return;
  }
  const file = `${dir}/${files.sort((a, b) => a.name.localeCompare(b.name)).at(-1)!.name}`;
  const p = JSON.parse(Deno.readTextFileSync(file)) as {
    nodes: {
      id: number;
      callFrame: { functionName: string; url: string; lineNumber: number };
      children?: number[];
    }[];
    samples: number[];
    timeDeltas: number[];
  };
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const byFn = new Map<string, number>();
  let total = 0;
  for (const n of p.nodes) {
    const t = self.get(n.id) ?? 0;
    total += t;
    const url = n.callFrame.url.replace(/^.*\/(src|bench|ext|node)\//, "$1/");
    const key = `${n.callFrame.functionName || "(anon)"} ${url}:${n.callFrame.lineNumber + 1}`;
    byFn.set(key, (byFn.get(key) ?? 0) + t);
  }
  console.log(`profile ${file}: ${Math.round(total / 1000)} ms sampled; top self time:`);
  const top = [...byFn].sort((a, b) => b[1] - a[1]).slice(0, Number(arg("top") ?? 40));
  for (const [k, t] of top) {
    console.log(`${(100 * t / total).toFixed(1).padStart(5)}%  ${k}`);
  }
  // Inclusive time of our own functions (a function counted once per stack).
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keyOf = (id: number) => {
    const f = byId.get(id)!.callFrame;
    const url = f.url.replace(/^.*\/(src|bench|ext|node)\//, "$1/");
    return `${f.functionName || "(anon)"} ${url}:${f.lineNumber + 1}`;
  };
  const inclusive = new Map<string, number>();
  for (const [id, t] of self) {
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const k = keyOf(at);
      if (!k.includes(" src/") || seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + t);
    }
  }
  console.log("top inclusive time (src/ only):");
  const topIncl = [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, Number(arg("top") ?? 40));
  for (const [k, t] of topIncl) {
    console.log(`${(100 * t / total).toFixed(1).padStart(5)}%  ${k}`);
  }
}

async function main() {
  const servers: Server[] = [];
  try {
    for (const root of ROOTS) servers.push(await start(root));
    const rows: string[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      for (const t of TRANSPORTS) {
        for (const s of servers) {
          const r = await measure(s, t);
          rows.push(
            `${String(round).padStart(2)} ${t} ${s.root.padEnd(28)} ${
              String(r.registrationsPerSec).padStart(6)
            } reg/s  p50 ${r.p50Ms.toFixed(2)}  p99 ${r.p99Ms.toFixed(2)}  fail ${r.failures}` +
              `  retx ${r.retransmissions}  cpu ${r.cpu}%  ${r.usPerReg} µs/reg (sys ${r.sysUsPerReg})  rss ${r.rss} MB`,
          );
          console.log(rows.at(-1));
        }
      }
    }
    if (args.includes("--rss-probe")) {
      for (const s of servers) {
        const before = rssMb(s.child.pid);
        console.log(`${s.root}: rss after load ${before} MB; waiting 40 s for Timer J…`);
      }
      await new Promise((r) => setTimeout(r, 40_000));
      for (const s of servers) {
        console.log(`${s.root}: rss 40 s later ${rssMb(s.child.pid)} MB`);
      }
    }
  } finally {
    for (const s of servers) {
      if (PROFILE) {
        s.child.kill("SIGINT");
        await Promise.race([s.child.status, new Promise((r) => setTimeout(r, 10_000))]);
      }
      await s.child.stop();
      await Deno.remove(s.dir, { recursive: true }).catch(() => {});
    }
  }
  if (PROFILE) summarizeProfile(PROFILE);
}

if (import.meta.main) {
  // `--summarize=DIR`: only print the summary of a profile already written there.
  const only = arg("summarize");
  if (only) summarizeProfile(only);
  else await main();
}
