/**
 * @module What the RSS of an in-process sipws is made of under the open-loop call load
 * (bench/support/call_load.ts: sipp UAC → server → sipp UAS, INVITE → 407 → ACK → INVITE
 * with credentials → 180/200 → ACK → BYE) over `--transport=udp|tcp` at `--rate=R` calls/s
 * for `--duration=S` seconds: every second the RSS split, V8's spaces and external memory
 * (bench/support/rss_composition.ts), then the peaks and, after two full GCs, what is live.
 * For comparing a transport's memory per call/s with the other's at the same rate. Run
 * `deno run -A --v8-flags=--max-semi-space-size=8,--expose-gc bench/call_rss.ts
 * --transport=tcp --rate=1000 --duration=10 [--quiet]`. Not part of the product.
 */
import v8 from "node:v8";
import { Session } from "node:inspector";
import { defaultConfig } from "../src/config/config.ts";
import { startServer } from "../src/server.ts";
import { releaseStartupPages } from "../src/cli/startup_pages.ts";
import { freePorts } from "../tests/support/ports.ts";
import { arg } from "./support/args.ts";
import { groupTicks, statusKb } from "./support/proc.ts";
import { sampleComposition } from "./support/rss_composition.ts";
import { CALL_LOAD, CALLEE, startCallee } from "./support/call_load.ts";
import { runLoad, type Transport } from "./support/sipp_ladder.ts";
import { BENCH_ACCOUNT, type Registrar } from "./support/registrars.ts";
import type { ChildProcess } from "../tests/support/process.ts";

const transport = (arg("transport") ?? "tcp") as Transport;
const rates = (arg("rates") ?? arg("rate") ?? "1000").split(",").map(Number);
const rate = rates.at(-1)!;
const durationS = Number(arg("duration") ?? 10);
const QUIET = Deno.args.includes("--quiet");
/** Seconds to wait after the load before measuring what is live (past Timer L/M: 33). */
const settleS = Number(arg("settle") ?? 0);
/** A V8 heap snapshot of what is live at the end, to this file. */
const snapshot = arg("snapshot");
/** `--snapshot-at=S`: take it S seconds into the load instead (what a call holds, live). */
const snapshotAt = arg("snapshot-at");
/**
 * `--promoted=FILE`: a sampling heap profile of the objects that outlived a scavenge (kept by
 * V8's sampler through minor GCs, then collected or live at the end), by allocation stack.
 */
const promoted = arg("promoted");
const inspector = promoted ? new Session() : undefined;
const post = (method: string, params?: object) =>
  new Promise<unknown>((resolve, reject) =>
    inspector!.post(method, params ?? {}, (e, r) => e ? reject(e) : resolve(r))
  );
if (inspector) {
  inspector.connect();
  await post("HeapProfiler.startSampling", {
    samplingInterval: 4096,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: false,
  });
}
if (snapshot && snapshotAt) {
  setTimeout(() => v8.writeHeapSnapshot(snapshot), Number(snapshotAt) * 1000);
}
const gc = () => (globalThis as { gc?: () => void }).gc?.();

const dir = await Deno.makeTempDir({ prefix: "sipws-callrss-" });
const config = defaultConfig();
config.interface = "127.0.0.1";
config.foreground = true;
config.workers = 1;
config.storePath = `${dir}/sipws.db`;
const [port] = freePorts(1);
config.udpPort = port;
config.tcpPort = port;
config.abuse.trusted = ["127.0.0.0/8"];
const server = await startServer(config);
releaseStartupPages();
await server.store.putAccount(BENCH_ACCOUNT);
await server.store.putAccount(CALLEE);
// The load helpers take a spawned server; this one is this process.
const self: Registrar = {
  name: "sipws",
  child: { pid: Deno.pid } as ChildProcess,
  port,
  dir,
  ticks: () => groupTicks(Deno.pid),
  memoryKb: () => statusKb(Deno.pid, "VmRSS"),
  stop: () => Promise.resolve(),
};
const peaks: Record<string, number> = {};
const uas = await startCallee(self, transport);
try {
  let run = undefined as Awaited<ReturnType<typeof runLoad>> | undefined;
  // `--rates=a,b,...`: back-to-back steps as the open-loop ladder runs them, a peak per step.
  for (const stepRate of rates) {
    const step: Record<string, number> = {};
    run = await runLoad(self, {
      load: CALL_LOAD,
      transport,
      rate: stepRate,
      durationS,
      sampleEveryMs: 1000,
      onSample: (t) => {
        const s = sampleComposition();
        for (const [k, v] of Object.entries(s)) {
          peaks[k] = Math.max(peaks[k] ?? 0, v);
          step[k] = Math.max(step[k] ?? 0, v);
        }
        if (!QUIET) console.log(JSON.stringify({ t_s: t, ...s }));
      },
    });
    if (rates.length > 1) {
      console.log(JSON.stringify({
        step: stepRate,
        completed: run.completed,
        shed: run.shed,
        cpu_us_per_call: run.cpuUsPerOp,
        peak_rss_mb: step.VmRSS,
        peak_old_mb: step.old_mb,
        peak_external_mb: step.external_mb,
      }));
    }
  }
  await new Promise((r) => setTimeout(r, settleS * 1000));
  // The settle period's own garbage (timers, sweeps) dies young: not what the load promoted.
  for (let i = 0; i < 2; i++) (globalThis as { gc?: (o: object) => void }).gc?.({ type: "minor" });
  for (let i = 0; i < 2; i++) {
    await new Promise((r) => setTimeout(r, 200));
    gc();
  }
  const after = sampleComposition();
  if (snapshot && !snapshotAt) v8.writeHeapSnapshot(snapshot);
  if (promoted) {
    const { profile } = await post("HeapProfiler.stopSampling") as { profile: unknown };
    Deno.writeTextFileSync(promoted, JSON.stringify(profile));
  }
  console.log(JSON.stringify({
    transport,
    rate,
    completed: run!.completed,
    failed: run!.failed,
    shed: run!.shed,
    cpu_us_per_call: run!.cpuUsPerOp,
    peak_rss_mb: peaks.VmRSS,
    peak_anon_mb: peaks.RssAnon,
    peak_old_mb: peaks.old_mb,
    peak_large_object_mb: peaks.large_object_mb,
    peak_external_mb: peaks.external_mb,
    live_heap_mb: after.heap_used_mb,
    live_external_mb: after.external_mb,
    live_old_mb: after.old_used_mb,
    live_large_object_mb: after.large_object_used_mb,
  }));
} finally {
  await uas.stop();
  await server.stop();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
Deno.exit(0);
