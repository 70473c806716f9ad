/**
 * @module Live memory of an in-process sipws under REGISTER load over UDP: starts the server
 * (default timers: T1 = 500 ms, so Timer J keeps each Completed transaction 32 s), runs
 * bench/register_load.ts in the same process for `--duration=MS` (default 5000), then
 * forces a full GC and prints heap used, external memory, RSS and live server
 * transactions, and the heap per live transaction. Run with
 * `deno run -A --v8-flags=--expose-gc bench/server_memory.ts`.
 *
 * `--sipp-rate=R` drives it from outside instead, as the open-loop bench does: sipp offers R
 * REGISTER + digest/s over UDP for `--duration` (then 3 s more), and every second a line
 * says what the RSS is made of: anonymous and file-backed pages (/proc/self/status), V8's
 * spaces (committed and used) and external memory. Run it with the server's V8 flags:
 * `deno run -A --v8-flags=--max-semi-space-size=8 bench/server_memory.ts --sipp-rate=12000
 * --duration=20000`. A last line sums the run up: the peak of each figure and the process's
 * CPU per registration (`--quiet`: that line only; `--label=X` names it); `--promoted-sites`
 * then lists, per registration, the bytes that outlived a scavenge by allocating function
 * (V8's sampling heap profiler, which costs CPU: not for the CPU figure). The server hands
 * back its startup-only pages as `sipws serve` does (`--keep-startup-pages`: not, for A/B).
 * `--snapshot-at=S --snapshot=FILE` writes a V8 heap snapshot S seconds into the load (the
 * snapshot forces a full GC first, so it holds what is live; it stalls the server for seconds).
 * Not part of the product.
 */
import { defaultConfig } from "../src/config/config.ts";
import { startServer } from "../src/server.ts";
import { releaseStartupPages } from "../src/cli/startup_pages.ts";
import { runRegisterLoad } from "./register_load.ts";
import { freePorts } from "../tests/support/ports.ts";
import process from "node:process";
import v8 from "node:v8";
import { arg } from "./support/args.ts";
import { printSites, startHeapSampling } from "./support/heap_sampling.ts";
import { sampleComposition, sippRegisterLoad } from "./support/rss_composition.ts";
import { BENCH_ACCOUNT } from "./support/register_texts.ts";

const gc = () => (globalThis as { gc?: () => void }).gc?.();
const mb = (b: number) => Math.round(b / 1024 / 102.4) / 10;

const dir = await Deno.makeTempDir({ prefix: "sipws-mem-" });
const config = defaultConfig();
config.interface = "127.0.0.1";
config.foreground = true;
config.workers = 1; // one transaction layer: this process's
config.storePath = `${dir}/sipws.db`;
const [port] = freePorts(1);
config.udpPort = port;
config.abuse.trusted = ["127.0.0.0/8"]; // the load generator's thousands of requests/s
const server = await startServer(config);
// As src/cli/serve.ts does once the server has started; `--keep-startup-pages` for the A/B.
if (!Deno.args.includes("--keep-startup-pages")) releaseStartupPages();
await server.store.putAccount(BENCH_ACCOUNT);
const sippRate = Number(arg("sipp-rate") ?? 0);
/** `--quiet`: only the summary line (peaks over the run, CPU per registration). */
const QUIET = Deno.args.includes("--quiet");
if (sippRate > 0) {
  const peaks: Record<string, number> = {};
  const cpu0 = process.cpuUsage();
  // `--promoted-sites`: what reached old space during the run, by allocating function.
  const stopSampling = Deno.args.includes("--promoted-sites")
    ? await startHeapSampling(true, 16384)
    : undefined;
  let total = 0;
  const snapshotAt = Number(arg("snapshot-at") ?? -1);
  try {
    await sippRegisterLoad(
      port,
      sippRate,
      Number(arg("duration") ?? 20000),
      (line) => {
        if (line.t_s === snapshotAt) v8.writeHeapSnapshot(arg("snapshot") ?? "sipws.heapsnapshot");
        const sample = sampleComposition();
        for (const [k, v] of Object.entries(sample)) peaks[k] = Math.max(peaks[k] ?? 0, v);
        if (!QUIET) console.log(JSON.stringify({ ...line, ...sample }));
        if (line.end !== "sipp") return;
        // The process's CPU (every thread: the server, V8's GC helpers) per registration.
        const cpu = process.cpuUsage(cpu0);
        const registered = Number(line.registered);
        console.log(JSON.stringify({
          summary: sippRate,
          label: arg("label") ?? "",
          registered,
          shed: line.shed,
          cpu_us_per_reg: registered ? Math.round((cpu.user + cpu.system) / registered) : 0,
          peak_rss_mb: peaks.VmRSS,
          peak_anon_mb: peaks.RssAnon,
          file_mb: peaks.RssFile,
          peak_old_mb: peaks.old_mb,
          peak_new_mb: peaks.new_mb,
          peak_large_object_mb: peaks.large_object_mb,
          peak_heap_total_mb: peaks.heap_total_mb,
          peak_external_mb: peaks.external_mb,
        }));
        total = registered;
      },
    );
    if (stopSampling) printSites("promoted", await stopSampling(), total || 1);
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  Deno.exit(0);
}
try {
  gc();
  const m0 = Deno.memoryUsage();
  const r = await runRegisterLoad({
    host: "127.0.0.1",
    port,
    transport: "udp",
    ...BENCH_ACCOUNT,
    concurrency: 20,
    durationMs: Number(arg("duration") ?? 5000),
  });
  // Twice, with a pause: ArrayBuffer backing stores are freed by a sweeper after the GC.
  for (let i = 0; i < 2; i++) {
    await new Promise((res) => setTimeout(res, 200));
    gc();
  }
  const m1 = Deno.memoryUsage();
  const live = server.transactions.stats().server;
  console.log(JSON.stringify({
    registrations: r.registrations,
    live_server_tx: live,
    heap_mb: mb(m1.heapUsed),
    heap_delta_mb: mb(m1.heapUsed - m0.heapUsed),
    external_delta_mb: mb(m1.external - m0.external),
    rss_mb: mb(m1.rss),
    heap_bytes_per_live_tx: live ? Math.round((m1.heapUsed - m0.heapUsed) / live) : 0,
    external_bytes_per_live_tx: live ? Math.round((m1.external - m0.external) / live) : 0,
  }));
} finally {
  await server.stop();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
