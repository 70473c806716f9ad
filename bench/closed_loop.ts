/**
 * @module Closed-loop REGISTER + digest, sipws and Kamailio side by side: `concurrency`
 * simulated agents (bench/register_load.ts) over 2 sockets/connections, each looping
 * REGISTER → 401 → REGISTER with credentials → 200, for `durationMs` per transport after a
 * `warmupMs` warm-up, the servers interleaved (UDP sipws, UDP Kamailio, TCP sipws, TCP
 * Kamailio) so background load hits both alike. Per phase: registrations/s, p50/p99 per
 * transaction, the server's CPU (% of a core, µs per registration; Kamailio summed over its
 * processes) and its peak memory over the phase (sipws VmRSS, Kamailio PSS summed over its
 * processes, sampled every 250 ms). Not part of the product; `bench/run.ts` drives it.
 */
import { type RegisterLoadResult, runRegisterLoad } from "./register_load.ts";
import { cpuUsage } from "node:process";
import { mb } from "./support/proc.ts";
import {
  BENCH_ACCOUNT,
  KAMAILIO,
  type Registrar,
  startKamailioRegistrar,
  startSipwsRegistrar,
} from "./support/registrars.ts";

export interface ClosedLoopOptions {
  kamailio: boolean;
  durationMs: number;
  warmupMs: number;
  concurrency: number;
}

export interface ClosedLoopPhase extends RegisterLoadResult {
  server: string;
  /** Server CPU time during the measured phase, % of one core. */
  serverCpuPct: number;
  /** Server CPU time per completed registration, µs. */
  cpuUsPerRegistration: number;
  /** Peak memory over the phase, MB (sipws VmRSS, Kamailio PSS). */
  peakMemMb: number;
  /** The load generator's own CPU time (this process), % of one core: near 100 it, not the
   * server, bounds the loop. */
  clientCpuPct: number;
}

export interface ClosedLoopResult {
  settings: Omit<ClosedLoopOptions, "kamailio"> & { connections: number };
  phases: ClosedLoopPhase[];
  /** Memory of each server before any load, MB. */
  idleMemMb: Record<string, number>;
  /** sipws/Kamailio registrations/s per transport. */
  ratio: Record<string, number>;
  kamailioSkipped?: string;
}

async function measure(
  server: Registrar,
  transport: "udp" | "tcp",
  o: ClosedLoopOptions,
): Promise<ClosedLoopPhase> {
  const base = {
    host: "127.0.0.1",
    port: server.port,
    transport,
    ...BENCH_ACCOUNT,
    concurrency: o.concurrency,
    connections: 2,
  };
  if (o.warmupMs > 0) await runRegisterLoad({ ...base, durationMs: o.warmupMs });
  let peakKb = server.memoryKb();
  const sampler = setInterval(() => {
    peakKb = Math.max(peakKb, server.memoryKb());
  }, 250);
  const ticks0 = server.ticks();
  const client0 = cpuUsage();
  const t0 = performance.now();
  let result: RegisterLoadResult;
  try {
    result = await runRegisterLoad({ ...base, durationMs: o.durationMs });
  } finally {
    clearInterval(sampler);
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpuS = (server.ticks() - ticks0) / 100;
  const client = cpuUsage(client0);
  peakKb = Math.max(peakKb, server.memoryKb());
  return {
    server: server.name,
    ...result,
    serverCpuPct: Math.round((cpuS / seconds) * 100),
    cpuUsPerRegistration: result.registrations
      ? Math.round((cpuS * 1e6) / result.registrations)
      : 0,
    peakMemMb: mb(peakKb),
    clientCpuPct: Math.round(((client.user + client.system) / 1e6 / seconds) * 100),
  };
}

export async function runClosedLoop(o: ClosedLoopOptions): Promise<ClosedLoopResult> {
  const servers: Registrar[] = [];
  let kamailioSkipped: string | undefined;
  const phases: ClosedLoopPhase[] = [];
  const idleMemMb: Record<string, number> = {};
  try {
    servers.push(await startSipwsRegistrar());
    if (!o.kamailio) kamailioSkipped = "--no-kamailio";
    else {
      try {
        await Deno.stat(KAMAILIO);
        servers.push(await startKamailioRegistrar());
      } catch (e) {
        kamailioSkipped = e instanceof Deno.errors.NotFound ? `${KAMAILIO} not installed` : `${e}`;
      }
    }
    for (const s of servers) idleMemMb[s.name] = mb(s.memoryKb());
    for (const transport of ["udp", "tcp"] as const) {
      for (const s of servers) phases.push(await measure(s, transport, o));
    }
  } finally {
    for (const s of servers) await s.stop();
  }
  const ratio: Record<string, number> = {};
  for (const t of ["udp", "tcp"]) {
    const a = phases.find((p) => p.server === "sipws" && p.transport === t);
    const b = phases.find((p) => p.server === "kamailio" && p.transport === t);
    if (a && b && b.registrationsPerSec > 0) {
      ratio[t] = Math.round((a.registrationsPerSec / b.registrationsPerSec) * 100) / 100;
    }
  }
  const { kamailio: _k, ...settings } = o;
  return { settings: { ...settings, connections: 2 }, phases, idleMemMb, ratio, kamailioSkipped };
}

export function formatClosedLoop(r: ClosedLoopResult): string[] {
  const pad = (s: string | number, n: number) => String(s).padStart(n);
  const header = "server    transport  reg/s   tx/s    p50 ms  p99 ms  fail  retx  cpu%  µs/reg  " +
    "peak mem MB  client cpu%";
  const lines = [header, "-".repeat(header.length)];
  for (const p of r.phases) {
    lines.push(
      `${p.server.padEnd(9)} ${p.transport.padEnd(9)} ${pad(p.registrationsPerSec, 6)} ` +
        `${pad(p.transactionsPerSec, 6)} ${pad(p.p50Ms.toFixed(2), 7)} ${
          pad(p.p99Ms.toFixed(2), 7)
        } ` +
        `${pad(p.failures, 5)} ${pad(p.retransmissions, 5)} ${pad(p.serverCpuPct, 5)} ` +
        `${pad(p.cpuUsPerRegistration, 7)} ${pad(p.peakMemMb, 12)} ${pad(p.clientCpuPct, 12)}`,
    );
  }
  for (const [t, v] of Object.entries(r.ratio)) lines.push(`ratio sipws/kamailio ${t}: ${v}`);
  lines.push(
    "idle memory: " +
      Object.entries(r.idleMemMb).map(([name, v]) => `${name} ${v} MB`).join(", ") +
      " (sipws VmRSS, Kamailio PSS over its processes)",
  );
  if (r.kamailioSkipped) lines.push(`kamailio: skipped (${r.kamailioSkipped})`);
  return lines;
}
