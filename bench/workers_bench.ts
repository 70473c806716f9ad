/**
 * @module The worker scaling benchmark: sipws with `--workers 1` and with `--workers N`
 * (default 2), each a real subprocess, under the same closed-loop REGISTER-with-digest load
 * (bench/register_load.ts) over UDP and over TCP, measured side by side in one run
 * (interleaved per transport, so background load hits both alike). Reports
 * registrations/s, p50/p99, server CPU µs per registration (all threads) and the scaling
 * factor (rate with N workers / rate with 1). Runs alone with
 * `deno run -A bench/workers_bench.ts [--duration=MS] [--workers=N] [--concurrency=N]`.
 */
import { runRegisterLoad } from "./register_load.ts";
import { groupTicks } from "./support/proc.ts";
import { loadConfig, seededStore, serveArgs } from "./support/sipws.ts";
import { spawnChild } from "../tests/support/process.ts";
import { freePorts, waitForListening } from "../tests/support/ports.ts";
import { arg } from "./support/args.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const ACCOUNT = { user: "bench", domain: "example.test", password: "bench-secret-1" };

export interface WorkersPhase {
  workers: number;
  transport: "udp" | "tcp";
  registrationsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  failures: number;
  /** Server CPU (every thread) per completed registration, µs. */
  cpuUsPerRegistration: number;
  /** Server CPU during the phase, % of one core. */
  cpuPct: number;
}

export interface WorkersBenchResult {
  workers: number;
  durationMs: number;
  concurrency: number;
  phases: WorkersPhase[];
  /** Rate with N workers over the rate with 1, per transport. */
  scaling: Record<string, number>;
}

async function startSipws(dir: string, workers: number) {
  const store = await seededStore(dir, [ACCOUNT]);
  const [port] = freePorts(1);
  const child = spawnChild(Deno.execPath(), {
    args: serveArgs({ store, udp: port, tcp: port, workers, config: loadConfig(dir, ROOT) }),
    cwd: ROOT,
  });
  await waitForListening(port, "udp", 30_000);
  await waitForListening(port, "tcp", 30_000);
  return { child, port };
}

export async function runWorkersBench(options: {
  workers?: number;
  durationMs?: number;
  warmupMs?: number;
  concurrency?: number;
  log?: (line: string) => void;
} = {}): Promise<WorkersBenchResult> {
  const n = options.workers ?? 2;
  const durationMs = options.durationMs ?? 5000;
  const warmupMs = options.warmupMs ?? 1000;
  const concurrency = options.concurrency ?? 40;
  const counts = [1, n];
  const dirs = await Promise.all(counts.map(() => Deno.makeTempDir({ prefix: "sipws-wb-" })));
  const servers = [];
  const phases: WorkersPhase[] = [];
  try {
    for (const [i, workers] of counts.entries()) servers.push(await startSipws(dirs[i], workers));
    for (const transport of ["udp", "tcp"] as const) {
      for (const [i, workers] of counts.entries()) {
        const { child, port } = servers[i];
        // Many UDP sockets / TCP connections: the kernel spreads connections over workers.
        const base = {
          host: "127.0.0.1",
          port,
          transport,
          ...ACCOUNT,
          concurrency,
          connections: 8,
        };
        if (warmupMs > 0) await runRegisterLoad({ ...base, durationMs: warmupMs });
        const ticks0 = groupTicks(child.pid);
        const t0 = performance.now();
        const r = await runRegisterLoad({ ...base, durationMs });
        const seconds = (performance.now() - t0) / 1000;
        const cpuSeconds = (groupTicks(child.pid) - ticks0) / 100;
        const phase: WorkersPhase = {
          workers,
          transport,
          registrationsPerSec: r.registrationsPerSec,
          p50Ms: r.p50Ms,
          p99Ms: r.p99Ms,
          failures: r.failures,
          cpuUsPerRegistration: r.registrations > 0
            ? Math.round((cpuSeconds * 1e6) / r.registrations)
            : 0,
          cpuPct: Math.round((cpuSeconds / seconds) * 100),
        };
        phases.push(phase);
        options.log?.(
          `workers=${workers} ${transport}: ${phase.registrationsPerSec} reg/s, ` +
            `${phase.cpuUsPerRegistration} µs CPU/reg, ${phase.cpuPct}% CPU, p99 ${phase.p99Ms} ms`,
        );
      }
    }
  } finally {
    for (const s of servers) await s.child.stop();
    for (const dir of dirs) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  const scaling: Record<string, number> = {};
  for (const t of ["udp", "tcp"]) {
    const one = phases.find((p) => p.transport === t && p.workers === 1);
    const many = phases.find((p) => p.transport === t && p.workers === n);
    if (one && many && one.registrationsPerSec > 0) {
      scaling[t] = Math.round((many.registrationsPerSec / one.registrationsPerSec) * 100) / 100;
    }
  }
  return { workers: n, durationMs, concurrency, phases, scaling };
}

export function formatWorkersBench(r: WorkersBenchResult): string[] {
  const header = "workers  transport  reg/s   p50 ms  p99 ms  fail  cpu%  µs CPU/reg";
  const lines = [header, "-".repeat(header.length)];
  for (const p of r.phases) {
    lines.push(
      `${String(p.workers).padStart(7)}  ${p.transport.padEnd(9)} ${
        String(p.registrationsPerSec).padStart(6)
      } ${p.p50Ms.toFixed(2).padStart(7)} ${p.p99Ms.toFixed(2).padStart(7)} ${
        String(p.failures).padStart(5)
      } ${String(p.cpuPct).padStart(5)} ${String(p.cpuUsPerRegistration).padStart(11)}`,
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
    `REGISTER with digest, closed loop, ${r.concurrency} agents over 8 sockets/connections, ` +
    `${r.durationMs} ms per phase, both servers side by side. CPU is the server process's ` +
    "(every thread) per completed registration.",
  ];
}

if (import.meta.main) {
  const result = await runWorkersBench({
    workers: Number(arg("workers") ?? 2),
    durationMs: Number(arg("duration") ?? 5000),
    concurrency: Number(arg("concurrency") ?? 40),
    log: (line) => console.error(line),
  });
  console.log(formatWorkersBench(result).join("\n"));
  console.log(JSON.stringify(result));
}
