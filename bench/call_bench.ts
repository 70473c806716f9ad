/**
 * @module Call bench: calls/s through the stateful proxy and concurrent dialogs
 * held, sipws and Kamailio side by side under the same load. For each server: a sipp UAS
 * (bench/scenarios/uas_load.xml) registered as bob@example.test over UDP with digest
 * credentials (its Contact is the UAS's own port), and a sipp UAC
 * (bench/scenarios/uac_load.xml) calling bob through the server over UDP (or, with
 * `transport: "tcp"`, UAC and UAS over TCP; bob's Contact then says `transport=tcp` and
 * the server connects to it): INVITE, 180, 200, ACK, hold, BYE, 200. The caller is of a foreign domain (caller.test), so neither
 * server challenges the INVITE: both do the same work (record-route, location lookup,
 * stateful INVITE and BYE transactions, dialog tracking; Kamailio with its dialog module).
 *
 * Measures (1) the highest offered rate from a bounded ladder (default
 * 200…3200 calls/s, 3 s each, servers interleaved step by step) that completed with 0 failed
 * calls, ≤ 1% retransmissions (UAC + UAS) and ≥ 90% of the offered rate achieved (a failed
 * step gets one second attempt; both are reported), with the server's CPU per call, its
 * kernel UDP drops and OPTIONS-probe round trips (responsiveness under load), and (2)
 * a long-hold run: N calls at a fixed rate held long enough to all be up at once, sampling
 * sipp's current calls, the server's RSS (VmRSS; PSS summed over Kamailio's processes, so
 * its shared memory counts once) and, for sipws, the `sipws_dialogs` gauge of GET /metrics;
 * then the gauge and RSS after every call ended. Every sipp run, wait and loop is bounded
 * in count and time. sipws is single-threaded (one core); Kamailio runs 2 UDP workers.
 * Not part of the product; runnable alone: `deno run -A bench/call_bench.ts [--json]
 * [--rates=200,400] [--step-ms=4000] [--hold-calls=5000] [--hold-rate=500]
 * [--no-kamailio] [--no-hold] [--transport=tcp]`.
 */
import { groupTicks, mb } from "./support/proc.ts";
import {
  type CallServerName,
  KAMAILIO,
  sipwsDialogs,
  udpDrops,
  udpRcvBuf,
} from "./support/call_servers.ts";
import {
  describeCauses,
  firstSignificantEvent,
  type Rig,
  runUac,
  startRig,
  stopRig,
  uasDelta,
} from "./support/call_rig.ts";
import { type ProbeResult, startProbe } from "./support/probe.ts";
import { creationRate } from "./support/sipp_stats.ts";

import { formatCallBench } from "./support/call_report.ts";
import { arg } from "./support/args.ts";

export type { CallServerName } from "./support/call_servers.ts";
export type { ProbeResult } from "./support/probe.ts";

export interface CallBenchOptions {
  /** UAC and UAS transport. Default udp. */
  transport?: "udp" | "tcp";
  /** Servers to measure; Kamailio is skipped (with a reason) when not installed. */
  servers?: CallServerName[];
  /** Offered call rates, calls/s, tried in order until a step fails. */
  rates?: number[];
  /** Duration of each rate step (calls = rate × stepMs / 1000). Default 3000. */
  stepMs?: number;
  /** Call hold time during rate steps (sipp -d). Default 500 ms. */
  stepHoldMs?: number;
  /** Calls of the long-hold run (0 skips it). Default 5000. */
  holdCalls?: number;
  /** Call rate of the long-hold run. Default 1000/s. */
  holdRate?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

export interface CallStep {
  /** Offered rate, calls/s. */
  rate: number;
  calls: number;
  successful: number;
  failed: number;
  /** UAC + UAS retransmissions during the step. */
  retransmissions: number;
  /** Of which the UAS's (200 OK resent for want of an ACK). */
  uasRetransmissions: number;
  /** Calls created per second while creating (sipp's -trace_stat, interpolated). */
  achievedCps: number;
  /** Mean INVITE → 200 time seen by the UAC, ms (sipp ResponseTime1, ms resolution). */
  inviteTo200Ms: number;
  serverCpuPct: number;
  /** Server CPU time per call, ms (whole sipp run, so not diluted by a failing step's tail). */
  cpuMsPerCall: number;
  serverRssMb: number;
  /** Datagrams dropped by the kernel on the server's UDP socket (it did not read in time). */
  serverUdpDrops: number;
  /** ...and on the UAC's and UAS's sockets. */
  clientUdpDrops: number;
  /** Responsiveness under the load: OPTIONS probes every 20 ms, round trip in ms. */
  probe: ProbeResult;
  passed: boolean;
  /** 2 for the second attempt at a rate whose first attempt failed. */
  attempt?: number;
  /** Why the step failed, when it did. */
  reason?: string;
}

export interface HoldResult {
  calls: number;
  rate: number;
  holdMs: number;
  /** Highest "current calls" sipp's UAC reported. */
  peakConcurrentCalls: number;
  /** sipws only: the `sipws_dialogs` gauge at the peak. */
  serverDialogsAtPeak?: number;
  /** sipws only: the gauge once every call had ended. */
  serverDialogsAfter?: number;
  successful: number;
  failed: number;
  retransmissions: number;
  /** VmRSS of the main process (sipws) or summed PSS of the process group (Kamailio). */
  rssAtPeakMb: number;
  rssAfterMb: number;
  /** (RSS at peak − RSS before the run) / peak concurrent calls. */
  kbPerDialog: number;
}

export interface ServerCallResult {
  server: CallServerName;
  idleRssMb: number;
  /** The server's UDP socket receive buffer (SO_RCVBUF as `ss` shows it), bytes. */
  udpRcvBufBytes?: number;
  steps: CallStep[];
  /** Highest offered rate that passed (0 if none). */
  maxCps: number;
  /** Achieved calls/s of that step. */
  maxAchievedCps: number;
  /** True when every offered rate passed: the server may do more than the ladder asks. */
  ladderCapped: boolean;
  hold?: HoldResult;
  /** Set when the server could not be measured. */
  error?: string;
}

export interface CallBenchResult {
  settings: Required<Omit<CallBenchOptions, "log" | "servers">>;
  servers: ServerCallResult[];
  /** maxCps(sipws) / maxCps(kamailio), when both were measured. */
  ratioSipwsOverKamailio?: number;
  kamailioSkipped?: string;
  totalSeconds: number;
}

async function step(rig: Rig, rate: number, stepMs: number, holdMs: number): Promise<CallStep> {
  const calls = Math.max(1, Math.round((rate * stepMs) / 1000));
  await uasDelta(rig); // baseline
  const serverDrops0 = udpDrops(rig.server.port);
  const uasDrops0 = udpDrops(rig.uasPort);
  const ticks0 = groupTicks(rig.server.child.pid);
  const t0 = performance.now();
  const probe = startProbe(rig.server.port);
  const uac = await runUac(rig, { rate, calls, holdMs });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = (groupTicks(rig.server.child.pid) - ticks0) / 100;
  const probed = await probe.stop();
  // The UAS writes its row once a second and lingers 1 s after each BYE.
  await new Promise((r) => setTimeout(r, 1300));
  const uas = await uasDelta(rig);
  const serverUdpDrops = udpDrops(rig.server.port) - serverDrops0;
  const clientUdpDrops = uac.drops + udpDrops(rig.uasPort) - uasDrops0;
  const last = uac.rows.at(-1);
  const successful = last?.successful ?? 0;
  const failed = (last?.failed ?? calls) + uas.failed;
  const retransmissions = (last?.retransmissions ?? 0) + uas.retransmissions;
  const achievedCps = Math.round(creationRate(uac.rows, calls, uac.started));
  let reason: string | undefined;
  if (uac.timedOut) reason = "sipp UAC hit its time bound";
  else if (failed > 0 || successful < calls) {
    const event = firstSignificantEvent(uac.errors);
    reason = `${failed} failed, ${successful}/${calls} successful at the UAC; causes: UAC ` +
      `[${describeCauses(last?.causes ?? {})}], UAS [${describeCauses(uas.causes)}]` +
      (event ? `; first UAC event: ${event}` : "");
  } else if (retransmissions > calls * 0.01) {
    reason = `${retransmissions} retransmissions, ${uas.retransmissions} of them by the UAS ` +
      `(> 1% of ${calls} calls)`;
  } else if (achievedCps < rate * 0.9) reason = `offered rate not reached (${achievedCps}/s)`;
  return {
    rate,
    calls,
    successful,
    failed,
    retransmissions,
    uasRetransmissions: uas.retransmissions,
    achievedCps,
    inviteTo200Ms: Math.round((last?.responseTimeMs ?? 0) * 10) / 10,
    serverCpuPct: Math.round((cpu / seconds) * 100),
    cpuMsPerCall: Math.round((cpu * 1000 / calls) * 100) / 100,
    serverRssMb: mb(rig.server.memoryKb()),
    serverUdpDrops,
    clientUdpDrops,
    probe: probed,
    passed: reason === undefined,
    reason,
  };
}

async function holdRun(rig: Rig, calls: number, rate: number): Promise<HoldResult> {
  // Long enough that the first call is still up when the last one is set up.
  const holdMs = Math.ceil((calls / rate) * 1000) + 4000;
  const before = rig.server.memoryKb();
  let peak = 0;
  let rssAtPeakKb = before;
  let dialogsAtPeak: number | undefined;
  await uasDelta(rig);
  const uac = await runUac(rig, {
    rate,
    calls,
    holdMs,
    onRow: async (row) => {
      if (row.current < peak) return;
      peak = row.current;
      rssAtPeakKb = Math.max(rssAtPeakKb, rig.server.memoryKb());
      dialogsAtPeak = await sipwsDialogs(rig.server);
    },
  });
  await new Promise((r) => setTimeout(r, 1300));
  const uas = await uasDelta(rig);
  const last = uac.rows.at(-1);
  const after = rig.server.memoryKb();
  return {
    calls,
    rate,
    holdMs,
    peakConcurrentCalls: peak,
    serverDialogsAtPeak: dialogsAtPeak,
    serverDialogsAfter: await sipwsDialogs(rig.server),
    successful: last?.successful ?? 0,
    failed: (last?.failed ?? calls) + uas.failed,
    retransmissions: (last?.retransmissions ?? 0) + uas.retransmissions,
    rssAtPeakMb: mb(rssAtPeakKb),
    rssAfterMb: mb(after),
    kbPerDialog: peak > 0 ? Math.round(((rssAtPeakKb - before) / peak) * 10) / 10 : 0,
  };
}

const DEFAULTS = {
  rates: [400, 800, 1200, 1600, 2000, 2400, 3200, 4000, 4800],
  stepMs: 3000,
  stepHoldMs: 500,
  holdCalls: 5000,
  holdRate: 1000,
};

/** Runs the call bench; servers are started and stopped here. */
export async function runCallBench(opts: CallBenchOptions = {}): Promise<CallBenchResult> {
  const began = performance.now();
  const settings = {
    transport: opts.transport ?? "udp",
    rates: opts.rates ?? DEFAULTS.rates,
    stepMs: opts.stepMs ?? DEFAULTS.stepMs,
    stepHoldMs: opts.stepHoldMs ?? DEFAULTS.stepHoldMs,
    holdCalls: opts.holdCalls ?? DEFAULTS.holdCalls,
    holdRate: opts.holdRate ?? DEFAULTS.holdRate,
  };
  const log = opts.log ?? (() => {});
  const wanted = opts.servers ?? ["sipws", "kamailio"];
  let kamailioSkipped: string | undefined;
  const names: CallServerName[] = [];
  for (const name of wanted) {
    if (name === "kamailio") {
      try {
        await Deno.stat(KAMAILIO);
      } catch {
        kamailioSkipped = `${KAMAILIO} not installed`;
        continue;
      }
    }
    names.push(name);
  }
  if (!wanted.includes("kamailio")) kamailioSkipped = "not requested";

  const results: ServerCallResult[] = [];
  const rigs: Rig[] = [];
  try {
    for (const name of names) {
      try {
        rigs.push(await startRig(name, settings.transport));
        results.push({
          server: name,
          idleRssMb: rigs.at(-1)!.idleRssMb,
          udpRcvBufBytes: settings.transport === "udp"
            ? await udpRcvBuf(rigs.at(-1)!.server.port)
            : undefined,
          steps: [],
          maxCps: 0,
          maxAchievedCps: 0,
          ladderCapped: false,
        });
      } catch (e) {
        results.push({
          server: name,
          idleRssMb: 0,
          steps: [],
          maxCps: 0,
          maxAchievedCps: 0,
          ladderCapped: false,
          error: String(e),
        });
      }
    }
    const live = () =>
      rigs.map((rig) => ({ rig, result: results.find((r) => r.server === rig.server.name)! }));

    // Warm-up (JIT, pools): not measured.
    for (const { rig } of live()) {
      log(`call bench: warm-up ${rig.server.name}`);
      await runUac(rig, { rate: 200, calls: 400, holdMs: 100 });
      await uasDelta(rig);
    }
    // The long hold first, on servers that have seen only the warm-up, so the memory it
    // adds is the dialogs' (Kamailio's shared memory, once touched, stays resident).
    if (settings.holdCalls > 0) {
      for (const { rig, result } of live()) {
        log(
          `call bench: ${rig.server.name} hold ${settings.holdCalls} calls at ` +
            `${settings.holdRate}/s`,
        );
        result.hold = await holdRun(rig, settings.holdCalls, settings.holdRate);
        log(`call bench: ${rig.server.name} hold → ${JSON.stringify(result.hold)}`);
      }
    }
    // The ladder, servers interleaved per step so background load hits both alike.
    const stillGoing = new Set(live().map((l) => l.rig.server.name));
    for (const rate of settings.rates) {
      for (const { rig, result } of live()) {
        if (!stillGoing.has(rig.server.name)) continue;
        let s = await step(rig, rate, settings.stepMs, settings.stepHoldMs);
        result.steps.push(s);
        if (!s.passed) {
          // One more attempt: the load generators share the machine, a stray stall of
          // another process should not decide the limit. Both attempts are reported.
          log(`call bench: ${rig.server.name} ${rate}/s failed (${s.reason}); second attempt`);
          s = { ...await step(rig, rate, settings.stepMs, settings.stepHoldMs), attempt: 2 };
          result.steps.push(s);
        }
        log(
          `call bench: ${rig.server.name} ${rate}/s → ${s.successful}/${s.calls} ok, ` +
            `${s.failed} failed, ${s.retransmissions} retx, ${s.achievedCps}/s achieved, ` +
            `cpu ${s.serverCpuPct}%${s.reason ? ` (${s.reason})` : ""}`,
        );
        if (s.passed) {
          result.maxCps = rate;
          result.maxAchievedCps = s.achievedCps;
        } else stillGoing.delete(rig.server.name);
      }
    }
    for (const { result } of live()) {
      result.ladderCapped = result.steps.length === settings.rates.length &&
        result.steps.every((s) => s.passed);
    }
  } finally {
    for (const rig of rigs) await stopRig(rig);
  }
  const sipws = results.find((r) => r.server === "sipws" && !r.error);
  const kam = results.find((r) => r.server === "kamailio" && !r.error);
  return {
    settings,
    servers: results,
    ratioSipwsOverKamailio: sipws && kam && kam.maxCps > 0
      ? Math.round((sipws.maxCps / kam.maxCps) * 100) / 100
      : undefined,
    kamailioSkipped,
    totalSeconds: Math.round((performance.now() - began) / 100) / 10,
  };
}

if (import.meta.main) {
  const num = (name: string) => arg(name) === undefined ? undefined : Number(arg(name));
  const result = await runCallBench({
    servers: Deno.args.includes("--no-kamailio") ? ["sipws"] : undefined,
    rates: arg("rates")?.split(",").map(Number),
    stepMs: num("step-ms"),
    stepHoldMs: num("step-hold-ms"),
    holdCalls: Deno.args.includes("--no-hold") ? 0 : num("hold-calls"),
    holdRate: num("hold-rate"),
    transport: arg("transport") === "tcp" ? "tcp" : "udp",
    log: (l) => console.error(l),
  });
  console.log(formatCallBench(result).join("\n"));
  if (Deno.args.includes("--json")) console.log(JSON.stringify(result));
}
