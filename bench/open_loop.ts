/**
 * @module Open-loop REGISTER + digest load from sipp, sipws and Kamailio side by
 * side in one run: a rate ladder over UDP and TCP, an overload run and a soak run.
 *
 * A step offers a fixed rate for `stepS` seconds (`sipp -r R -m stepS·R`, scenario
 * bench/scenarios/register_digest.xml: REGISTER → 401 → REGISTER with credentials → 200;
 * over TCP two sipp instances at R/2, so two connections). It passes when failed plus
 * unfinished registrations are under 0.1 %, the achieved rate (200s over the step's wall
 * time) is at least 97 % of the offered one, and the p99 registration time is at most
 * 200 ms. The servers alternate step by step, so background load hits both alike; a failed
 * step is tried once more and a server stops climbing at a rate that failed twice. For each
 * step: the server's CPU µs per registration (its CPU time over the step / registrations),
 * peak memory (sampled every 250 ms: sipws VmRSS, Kamailio PSS), p50/p99.
 *
 * Overload: 2× sipws's highest passing UDP rate for `overloadS` (default 30 s): achieved
 * rate (and as a share of the highest passing rate), 503s received, peak memory. Soak: 50 %
 * of that rate for `soakS` (default 600 s), memory every 10 s. Every sipp run is bounded
 * by -timeout and killed past it. Not part of the product; `bench/run.ts` drives it.
 * The ladder (bench/support/sipp_ladder.ts) is shared with bench/call_ladder.ts.
 */
import {
  formatLadders,
  formatStep,
  type LadderResult,
  type LoadRun,
  runLadder,
  runLoad,
} from "./support/sipp_ladder.ts";
import {
  KAMAILIO,
  type Registrar,
  startKamailioRegistrar,
  startSipwsRegistrar,
} from "./support/registrars.ts";

export interface OverloadResult extends LoadRun {
  /** sipws's highest passing UDP rate (the capacity the overload doubles). */
  capacity: number;
  /** Achieved rate / capacity. */
  keptShare: number;
}

export async function runOverload(
  server: Registrar,
  capacity: number,
  durationS: number,
): Promise<OverloadResult> {
  const run = await runLoad(server, { transport: "udp", rate: 2 * capacity, durationS });
  return {
    ...run,
    capacity,
    keptShare: capacity ? Math.round((run.achievedPerSec / capacity) * 100) / 100 : 0,
  };
}

export interface SoakResult extends LoadRun {
  /** [seconds since start, memory MB] every 10 s. */
  memory: [number, number][];
}

export async function runSoak(
  server: Registrar,
  rate: number,
  durationS: number,
): Promise<SoakResult> {
  const memory: [number, number][] = [];
  const run = await runLoad(server, {
    transport: "udp",
    rate,
    durationS,
    sampleEveryMs: 10_000,
    onSample: (at, memMb) => memory.push([at, memMb]),
  });
  return { ...run, memory };
}

export interface OpenLoopOptions {
  kamailio: boolean;
  rates: number[];
  stepS: number;
  overloadS: number;
  soakS: number;
  log?: (line: string) => void;
}

export interface OpenLoopResult {
  settings: Omit<OpenLoopOptions, "log" | "kamailio">;
  kamailioSkipped?: string;
  ladders: LadderResult[];
  overload: OverloadResult[];
  soak?: SoakResult;
}

/**
 * Fresh sipws (and Kamailio) processes; a 2 s warm-up at the lowest rate each (JIT, first
 * connections; not judged); the UDP then TCP ladder against the same processes; overload
 * at 2× sipws's UDP limit against both; then the soak against sipws.
 */
export async function runOpenLoopBench(o: OpenLoopOptions): Promise<OpenLoopResult> {
  const servers: Registrar[] = [];
  let kamailioSkipped: string | undefined;
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
    for (const s of servers) {
      for (const transport of ["udp", "tcp"] as const) {
        await runLoad(s, { transport, rate: o.rates[0], durationS: 2 });
      }
    }
    const ladders: LadderResult[] = [];
    for (const transport of ["udp", "tcp"] as const) {
      ladders.push(
        await runLadder(servers, { transport, rates: o.rates, stepS: o.stepS, log: o.log }),
      );
    }
    const capacity = ladders[0].maxRate.sipws || o.rates[0];
    const overload: OverloadResult[] = [];
    if (o.overloadS > 0) {
      for (const s of servers) {
        await new Promise((r) => setTimeout(r, 3000));
        overload.push(await runOverload(s, capacity, o.overloadS));
        o.log?.(`overload ${formatStep(overload.at(-1)!)}`);
      }
    }
    let soak: SoakResult | undefined;
    if (o.soakS > 0) {
      await new Promise((r) => setTimeout(r, 3000));
      soak = await runSoak(servers[0], Math.round(capacity / 2), o.soakS);
      o.log?.(`soak ${formatStep(soak)}`);
    }
    const { log: _log, kamailio: _k, ...settings } = o;
    return { settings, kamailioSkipped, ladders, overload, soak };
  } finally {
    for (const s of servers) await s.stop();
  }
}

/** Table lines for the report. */
export function formatOpenLoop(r: OpenLoopResult): string[] {
  const lines = [
    `open-loop REGISTER+digest (sipp, ${r.settings.stepS} s per step, pass: fail+unfinished ` +
    `< 0.1 %, achieved ≥ 97 %, p99 ≤ 200 ms)`,
  ];
  for (const l of r.ladders) for (const s of l.steps) lines.push("  " + formatStep(s));
  lines.push(...formatLadders(r.ladders));
  for (const o of r.overload) {
    lines.push(
      `overload ${o.server}: offered ${o.rate}/s (2× sipws's ${o.capacity}/s) for ` +
        `${r.settings.overloadS} s: achieved ${o.achievedPerSec}/s (${o.keptShare} of capacity), ` +
        `503 received ${o.shed}, failed ${o.failed}, unfinished ${o.unfinished}, ` +
        `peak mem ${o.peakMemMb} MB, ${o.cpuUsPerOp} µs/reg`,
    );
  }
  if (r.soak) {
    lines.push(
      `soak sipws: ${r.soak.rate}/s for ${r.settings.soakS} s: achieved ${r.soak.achievedPerSec}/s, ` +
        `failed ${r.soak.failed}, unfinished ${r.soak.unfinished}, memory MB every 10 s: ` +
        r.soak.memory.map(([, m]) => m).join(" "),
    );
  }
  if (r.kamailioSkipped) lines.push(`kamailio: skipped (${r.kamailioSkipped})`);
  return lines;
}
