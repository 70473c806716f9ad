/**
 * @module The issue's open-loop protocol, sipws and Kamailio side by side in one run: one
 * fresh process per server, then against that same process, one after the other, the
 * REGISTER + digest ladder over UDP, over TCP, then the authenticated call ladder over UDP,
 * over TCP (bench/support/call_load.ts). Then the overload run (2× sipws's UDP REGISTER
 * limit) and the soak (half that limit, memory every 10 s), each on fresh processes.
 *
 * A step offers a fixed rate for `stepS` seconds (`sipp -r R -m stepS·R`; over TCP two
 * sipp instances at R/2, so two connections) and passes when failed plus unfinished plus
 * 503'd operations are under 0.1 %, the achieved rate is at least 97 % of the offered one
 * and p99 is at most 200 ms (bench/support/sipp_ladder.ts). The servers alternate step by
 * step, a failed step is tried once more, a server stops at a rate failed twice. Kamailio
 * runs bench/kamailio/kamailio_proxy.cfg.tmpl (2 UDP + 2 TCP workers; registrar and
 * proxy), so one process serves all four loads as sipws does. Every sipp run is bounded by
 * its -timeout and killed past it. Not part of the product; `bench/run.ts` drives it
 * (`--only=open-loop,overload,soak`).
 */
import {
  formatLadders,
  formatStep,
  type LadderResult,
  type LoadRun,
  runLadder,
  runLoad,
  type SippLoad,
  type Transport,
} from "./support/sipp_ladder.ts";
import {
  BENCH_ACCOUNT,
  KAMAILIO,
  type Registrar,
  startKamailioRegistrar,
  startSipwsRegistrar,
} from "./support/registrars.ts";
import { CALL_LOAD, CALLEE, startCallee } from "./support/call_load.ts";
import { runFloodLoad } from "./support/register_flood.ts";
import type { SippRun } from "../tests/support/sipp.ts";

/** Progress lines (stderr). */
type Log = (line: string) => void;

export interface ServerSet {
  servers: Registrar[];
  /** Why Kamailio is not among them, when it is not. */
  kamailioSkipped?: string;
}

/** Fresh sipws (bench and bob accounts) and, unless skipped or missing, Kamailio. */
export async function startServers(kamailio: boolean): Promise<ServerSet> {
  const servers = [await startSipwsRegistrar([BENCH_ACCOUNT, CALLEE])];
  if (!kamailio) return { servers, kamailioSkipped: "--no-kamailio" };
  try {
    await Deno.stat(KAMAILIO);
    servers.push(await startKamailioRegistrar("kamailio_proxy.cfg.tmpl"));
    return { servers };
  } catch (e) {
    const reason = e instanceof Deno.errors.NotFound ? `${KAMAILIO} not installed` : `${e}`;
    return { servers, kamailioSkipped: reason };
  }
}

export async function stopServers(set: ServerSet | undefined): Promise<void> {
  for (const s of set?.servers ?? []) await s.stop();
}

/** 2 s at `rate` per server (JIT, first connections); not judged. */
async function warmUp(servers: Registrar[], transport: Transport, rate: number, load?: SippLoad) {
  for (const s of servers) await runLoad(s, { transport, load, rate, durationS: 2 });
}

export interface OpenLoopOptions {
  kamailio: boolean;
  registerRates: number[];
  callRates: number[];
  stepS: number;
  log?: Log;
}

export interface OpenLoopResult {
  settings: Omit<OpenLoopOptions, "log" | "kamailio">;
  kamailioSkipped?: string;
  /** REGISTER udp, REGISTER tcp, calls udp, calls tcp. */
  ladders: LadderResult[];
}

/** The four ladders against one fresh process per server. */
export async function runOpenLoop(o: OpenLoopOptions): Promise<OpenLoopResult> {
  let set: ServerSet | undefined;
  try {
    set = await startServers(o.kamailio);
    const ladders: LadderResult[] = [];
    for (const transport of ["udp", "tcp"] as const) {
      await warmUp(set.servers, transport, o.registerRates[0]);
      ladders.push(
        await runLadder(set.servers, {
          transport,
          rates: o.registerRates,
          stepS: o.stepS,
          log: o.log,
        }),
      );
    }
    for (const transport of ["udp", "tcp"] as const) {
      const callees: SippRun[] = [];
      try {
        for (const s of set.servers) callees.push(await startCallee(s, transport));
        await warmUp(set.servers, transport, o.callRates[0], CALL_LOAD);
        ladders.push(
          await runLadder(set.servers, {
            transport,
            load: CALL_LOAD,
            rates: o.callRates,
            stepS: o.stepS,
            log: o.log,
          }),
        );
      } finally {
        for (const c of callees) await c.stop();
      }
    }
    const { log: _log, kamailio: _k, ...settings } = o;
    return { settings, kamailioSkipped: set.kamailioSkipped, ladders };
  } finally {
    await stopServers(set);
  }
}

/** The open-loop UDP REGISTER limit of sipws in `r`, when it passed any step. */
export function registerCapacity(r: OpenLoopResult | undefined): number | undefined {
  const udp = r?.ladders.find((l) => l.op === "reg" && l.transport === "udp");
  return udp?.maxRate.sipws || undefined;
}

/**
 * sipws's UDP limit for `load` (default REGISTER) on `sipws` when this run did not measure
 * it: a short ladder (3 s steps) over `rates`; the lowest rate when none passed.
 */
async function probeCapacity(
  sipws: Registrar,
  rates: number[],
  log?: Log,
  load?: SippLoad,
): Promise<number> {
  const ladder = await runLadder([sipws], { transport: "udp", load, rates, stepS: 3, log });
  return ladder.maxRate.sipws || rates[0];
}

/** The open-loop UDP call limit of sipws in `r`, when it passed any step. */
export function callCapacity(r: OpenLoopResult | undefined): number | undefined {
  const udp = r?.ladders.find((l) => l.op === "call" && l.transport === "udp");
  return udp?.maxRate.sipws || undefined;
}

export interface OverloadRun extends LoadRun {
  /** sipws's highest passing UDP rate of this load (the capacity the overload doubles). */
  capacity: number;
  /** Achieved rate / capacity. */
  keptShare: number;
  /** Where the capacity came from: this run's ladder, --capacity, or a short probe. */
  capacitySource: string;
}

export interface OverloadOptions {
  kamailio: boolean;
  /** Known capacity (this run's ladder or --capacity); probed when undefined. */
  capacity?: number;
  capacitySource?: string;
  probeRates: number[];
  durationS: number;
  /** Default: REGISTER + digest. Calls go to a callee started per server and transport. */
  load?: SippLoad;
  /** Default: UDP only. */
  transports?: Transport[];
  /**
   * What offers the 2× REGISTER load over UDP: bench/loadgen/register_flood.c (default;
   * sipp cannot generate 60,000/s and read the answers on this box), or sipp. Warm-up,
   * probe and other loads are sipp's.
   */
  generator?: "register_flood" | "sipp";
  log?: Log;
}

export interface OverloadResult {
  durationS: number;
  kamailioSkipped?: string;
  runs: OverloadRun[];
}

/**
 * 2× sipws's UDP capacity of `load` for `durationS` against fresh servers, one at a time,
 * over each of `transports`.
 */
/** Below this many CPU ticks (1/100 s) a second, summed over the servers, they are idle. */
const IDLE_TICKS_PER_S = 10;
/** How long `settle` waits at most. */
const SETTLE_MAX_S = 60;

/**
 * Waits until every server is idle (bounded): a server that collapsed under the previous
 * overload run keeps retransmitting to callees that are gone, and the next server measured
 * would share the CPU with it.
 */
async function settle(servers: Registrar[], log?: Log): Promise<void> {
  const ticks = () => servers.reduce((sum, s) => sum + s.ticks(), 0);
  for (let waited = 0; waited < SETTLE_MAX_S; waited++) {
    const before = ticks();
    await new Promise((r) => setTimeout(r, 1000));
    const busy = ticks() - before;
    if (busy < IDLE_TICKS_PER_S) {
      if (waited > 0) log?.(`overload: servers idle after ${waited + 1} s`);
      return;
    }
  }
  log?.(`overload: servers still busy after ${SETTLE_MAX_S} s; measuring anyway`);
}

export async function runOverload(o: OverloadOptions): Promise<OverloadResult> {
  let set: ServerSet | undefined;
  const calls = o.load?.op === "call";
  const callees: SippRun[] = [];
  const stopCallees = async () => {
    for (const c of callees.splice(0)) await c.stop();
  };
  try {
    set = await startServers(o.kamailio);
    let capacity = o.capacity;
    let source = o.capacitySource ?? "given";
    const runs: OverloadRun[] = [];
    for (const transport of o.transports ?? ["udp"]) {
      if (calls) { for (const s of set.servers) callees.push(await startCallee(s, transport)); }
      await warmUp(set.servers, transport, o.probeRates[0], o.load);
      if (!capacity) {
        if (transport !== "udp") throw new Error("the capacity is probed over UDP: list it first");
        capacity = await probeCapacity(set.servers[0], o.probeRates, o.log, o.load);
        source = "probe (3 s steps)";
      }
      for (const s of set.servers) {
        await new Promise((r) => setTimeout(r, 3000)); // the probe's or the warm-up's backlog
        await settle(set.servers, o.log);
        const flood = !o.load && transport === "udp" && o.generator !== "sipp";
        const run = flood
          ? await runFloodLoad(s, { rate: 2 * capacity, durationS: o.durationS })
          : await runLoad(s, {
            transport,
            load: o.load,
            rate: 2 * capacity,
            durationS: o.durationS,
          });
        runs.push({
          ...run,
          capacity,
          capacitySource: source,
          keptShare: Math.round((run.achievedPerSec / capacity) * 100) / 100,
        });
        o.log?.(`overload ${formatStep(run)}`);
      }
      await stopCallees();
    }
    return { durationS: o.durationS, kamailioSkipped: set.kamailioSkipped, runs };
  } finally {
    await stopCallees();
    await stopServers(set);
  }
}

export interface SoakResult extends LoadRun {
  durationS: number;
  /** sipws's UDP REGISTER capacity the soak offers half of, and where it came from. */
  capacity: number;
  capacitySource: string;
  /** [seconds since start, memory MB] every 10 s. */
  memory: [number, number][];
}

/** Half the capacity of REGISTER over UDP for `durationS` against a fresh sipws. */
export async function runSoak(
  o: Omit<OverloadOptions, "kamailio">,
): Promise<SoakResult> {
  let set: ServerSet | undefined;
  try {
    set = await startServers(false);
    const sipws = set.servers[0];
    await warmUp(set.servers, "udp", o.probeRates[0]);
    let capacity = o.capacity;
    let source = o.capacitySource ?? "given";
    if (!capacity) {
      capacity = await probeCapacity(sipws, o.probeRates, o.log);
      source = "probe (3 s steps)";
      await new Promise((r) => setTimeout(r, 3000));
    }
    const memory: [number, number][] = [];
    const run = await runLoad(sipws, {
      transport: "udp",
      rate: Math.round(capacity / 2),
      durationS: o.durationS,
      sampleEveryMs: 10_000,
      onSample: (at, memMb) => memory.push([at, memMb]),
    });
    o.log?.(`soak ${formatStep(run)}`);
    return { ...run, durationS: o.durationS, capacity, capacitySource: source, memory };
  } finally {
    await stopServers(set);
  }
}

/** Table lines of the four ladders. */
export function formatOpenLoop(r: OpenLoopResult): string[] {
  const lines = [
    `open loop (sipp, ${r.settings.stepS} s per step, pass: fail+unfinished+503 < 0.1 %, ` +
    `achieved ≥ 97 %, p99 ≤ 200 ms; calls: p99 first INVITE → 200); one process per server`,
  ];
  for (const l of r.ladders) for (const s of l.steps) lines.push("  " + formatStep(s));
  lines.push(...formatLadders(r.ladders));
  if (r.kamailioSkipped) lines.push(`kamailio: skipped (${r.kamailioSkipped})`);
  return lines;
}

export function formatOverload(r: OverloadResult): string[] {
  const lines = r.runs.map((o) =>
    `overload ${o.server} ${o.op} ${o.transport}: offered ${o.rate}/s ` +
    `(2× sipws's UDP ${o.capacity}/s, ${o.capacitySource}) ` +
    `for ${r.durationS} s: achieved ${o.achievedPerSec}/s (${o.keptShare} of capacity` +
    (o.achievedInOfferPerSec === undefined ? "" : `; ${o.achievedInOfferPerSec}/s = ` +
      `${(o.achievedInOfferPerSec / o.capacity).toFixed(2)} within the ${r.durationS} s`) +
    `), ` +
    `p50 ${o.p50Ms} p99 ${o.p99Ms} ms, ` +
    `503 received ${o.shed}` +
    (o.shedWithRetryAfter === undefined ? "" : ` (${o.shedWithRetryAfter} with Retry-After)`) +
    `, failed ${o.failed}, unfinished ${o.unfinished}, ` +
    `peak mem ${o.peakMemMb} MB, cpu ${o.cpuPct}% ${o.cpuUsPerOp} µs/${o.op}, ` +
    `drops srv/cli ${o.serverDrops}/${o.clientDrops}, ` +
    `${o.generator ?? "sipp"} cpu ${o.clientCpuPct ?? "?"}%, ` +
    `server waited for a cpu ${o.serverWaitPct ?? "?"}% of its runnable time`
  );
  if (r.kamailioSkipped) lines.push(`kamailio: skipped (${r.kamailioSkipped})`);
  return lines;
}

export function formatSoak(r: SoakResult): string[] {
  return [
    `soak sipws: ${r.rate}/s (half of ${r.capacity}/s, ${r.capacitySource}) for ${r.durationS} s: achieved ${r.achievedPerSec}/s, ` +
    `failed ${r.failed}, unfinished ${r.unfinished}, 503 ${r.shed}, cpu ${r.cpuUsPerOp} µs/reg, ` +
    `drops srv/cli ${r.serverDrops}/${r.clientDrops}`,
    `soak memory MB every 10 s: ${r.memory.map(([, m]) => m).join(" ")}`,
    soakDrift(r.memory),
  ];
}

/** Memory after the first minute (warm-up): first, lowest, highest and last sample. */
function soakDrift(memory: [number, number][]): string {
  const after = memory.filter(([at]) => at >= 60).map(([, m]) => m);
  if (after.length < 2) return "soak after warm-up (60 s): too short to say";
  return `soak after warm-up (60 s): ${after[0]} MB first, ${Math.min(...after)} min, ` +
    `${Math.max(...after)} max, ${after.at(-1)} last (last − first ` +
    `${Math.round((after.at(-1)! - after[0]) * 10) / 10} MB)`;
}
