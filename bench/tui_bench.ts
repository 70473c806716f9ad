/**
 * @module Dashboard overhead benchmark: REGISTER-with-digest throughput over UDP against the
 * real binary (`deno run -A main.ts -f ...`) with the dashboard off (stdout piped) and on
 * (`--tui` in a tmux pseudo-terminal, Registrations pane showing every binding while the
 * header rates tick). The load is the same both times: N test agents (TestSipClient), each
 * looping REGISTER → 401 → REGISTER for a bounded time after a warm-up. Prints both rates and
 * the on/off ratio (the issue asks for ≥ 0.9), plus the server's CPU time per REGISTER
 * (read from /proc, steadier than throughput on a busy host), over interleaved rounds, as
 * text and one JSON line. Run `deno run -A bench/tui_bench.ts [--duration=MS]
 * [--warmup=MS] [--concurrency=N] [--rounds=N]`; a bench driver imports `runTuiBench`.
 * Needs tmux for the "on" half and Linux /proc for the CPU figures.
 */
import { freePort, freePorts, waitHealthy } from "../tests/support/ports.ts";
import { spawnChild } from "../tests/support/process.ts";
import { CLOCK_TICKS_PER_S, processTicks } from "./support/proc.ts";
import { loadConfig, provisionUsers, serveArgs } from "./support/sipws.ts";
import { register, TestSipClient } from "../tests/support/sip_client.ts";
import { hasTmux, TmuxTerminal } from "../tests/support/tmux.ts";
import { arg } from "./support/args.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const KEY = "tui-bench-key";
const DOMAIN = "bench.test";

export interface TuiBenchOptions {
  /** Measured time per mode, ms (default 5000). */
  durationMs?: number;
  /** Load before measuring, ms (default 1000). */
  warmupMs?: number;
  /** Concurrent agents, one account each (default 20). */
  concurrency?: number;
  /** Off/on pairs, interleaved so background load hits both alike (default 2). */
  rounds?: number;
}

export interface TuiBenchResult {
  /** Median over the rounds. */
  tui_off_registers_per_s: number;
  tui_on_registers_per_s: number;
  tui_ratio_on_over_off: number;
  /** Server CPU time per REGISTER (median), µs: less sensitive to a busy host. */
  tui_off_cpu_us_per_register: number;
  tui_on_cpu_us_per_register: number;
  tui_cpu_ratio_on_over_off: number;
  tui_rounds: number;
  tui_off_failures: number;
  tui_on_failures: number;
  tui_concurrency: number;
  tui_duration_ms: number;
  /** 1 when the dashboard showed every agent's binding at the end of its run. */
  tui_screen_showed_all: number;
}

/** The first child of `pid` (the server under the pane's shell). */
function childOf(pid: number): number {
  const text = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim();
  const first = Number(text.split(/\s+/)[0]);
  if (!first) throw new Error(`no child process under ${pid}`);
  return first;
}

/** N agents loop REGISTERs; returns successes and failures counted after the warm-up. */
interface LoadResult {
  ok: number;
  failed: number;
  seconds: number;
  /** Server CPU seconds during the measured window. */
  cpu: number;
}

async function load(
  udpPort: number,
  serverPid: number,
  o: Required<TuiBenchOptions>,
): Promise<LoadResult> {
  const clients = await Promise.all(
    Array.from({ length: o.concurrency }, () => TestSipClient.connect("udp", udpPort)),
  );
  const start = Date.now();
  const measureFrom = start + o.warmupMs;
  const end = measureFrom + o.durationMs;
  let ok = 0;
  let failed = 0;
  let cpuStart = 0;
  let cpuEnd = 0;
  const t1 = setTimeout(() => cpuStart = processTicks(serverPid) / CLOCK_TICKS_PER_S, o.warmupMs);
  const t2 = setTimeout(
    () => cpuEnd = processTicks(serverPid) / CLOCK_TICKS_PER_S,
    o.warmupMs + o.durationMs,
  );
  try {
    await Promise.all(clients.map(async (client, i) => {
      while (Date.now() < end) {
        let good = false;
        try {
          const r = await register(client, {
            user: `u${i}`,
            domain: DOMAIN,
            password: `pw-${i}`,
            expires: 300,
            extraHeaders: ["User-Agent: tui-bench"],
          });
          good = r.status === 200;
        } catch {
          good = false;
        }
        const now = Date.now();
        if (now >= measureFrom && now <= end) good ? ok++ : failed++;
      }
    }));
  } finally {
    clearTimeout(t1);
    clearTimeout(t2);
    for (const c of clients) c.close();
  }
  if (cpuEnd === 0) cpuEnd = processTicks(serverPid) / CLOCK_TICKS_PER_S;
  return { ok, failed, seconds: o.durationMs / 1000, cpu: cpuEnd - cpuStart };
}

/** The server under test, with or without the dashboard, each with its own store. */
const tuiServeArgs = (udp: number, http: number, dir: string, tui: boolean): string[] =>
  serveArgs({
    store: `${dir}/sipws-${tui ? "on" : "off"}.db`,
    config: loadConfig(dir, ROOT),
    udp,
    http: { port: http, key: KEY },
    tui,
  });

async function runOff(dir: string, o: Required<TuiBenchOptions>) {
  const udp = freePort("udp");
  const [http] = freePorts(1);
  const child = spawnChild(Deno.execPath(), {
    args: tuiServeArgs(udp, http, dir, false),
    cwd: ROOT,
  });
  try {
    const base = `http://127.0.0.1:${http}`;
    await waitHealthy(base, 60_000);
    await provisionUsers(base, KEY, DOMAIN, o.concurrency);
    return await load(udp, child.pid, o);
  } finally {
    await child.stop();
  }
}

async function runOn(dir: string, o: Required<TuiBenchOptions>) {
  const udp = freePort("udp");
  const [http] = freePorts(1);
  const term = await TmuxTerminal.start([Deno.execPath(), ...tuiServeArgs(udp, http, dir, true)], {
    cwd: ROOT,
    cols: 120,
    rows: 40,
    dir,
  });
  try {
    const base = `http://127.0.0.1:${http}`;
    await waitHealthy(base, 60_000);
    await term.waitFor(/1 Registrations/, 30_000);
    await provisionUsers(base, KEY, DOMAIN, o.concurrency);
    const r = await load(udp, childOf(await term.panePid()), o);
    const screen = await term.waitFor(new RegExp(`regs ${o.concurrency} `), 5000).catch(() => "");
    await term.keys("q");
    await term.exitCode(15_000);
    return { ...r, showedAll: screen !== "" };
  } finally {
    await term.close();
  }
}

function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** Throughput and server CPU per REGISTER with the dashboard off and on; on/off ratios. */
export async function runTuiBench(options: TuiBenchOptions = {}): Promise<TuiBenchResult> {
  if (!hasTmux) throw new Error("tui bench needs tmux");
  const o: Required<TuiBenchOptions> = {
    durationMs: options.durationMs ?? 5000,
    warmupMs: options.warmupMs ?? 1000,
    concurrency: options.concurrency ?? 20,
    rounds: options.rounds ?? 2,
  };
  const dir = await Deno.makeTempDir({ prefix: "sipws-tui-bench-" });
  try {
    const offs: LoadResult[] = [];
    const ons: (LoadResult & { showedAll: boolean })[] = [];
    for (let i = 0; i < o.rounds; i++) {
      // Alternate which goes first so a drift in background load does not favour one.
      if (i % 2 === 0) {
        offs.push(await runOff(dir, o));
        ons.push(await runOn(dir, o));
      } else {
        ons.push(await runOn(dir, o));
        offs.push(await runOff(dir, o));
      }
    }
    const rate = (r: LoadResult) => r.ok / r.seconds;
    const cpuPer = (r: LoadResult) => (r.cpu * 1e6) / Math.max(1, r.ok);
    const offRate = median(offs.map(rate));
    const onRate = median(ons.map(rate));
    const offCpu = median(offs.map(cpuPer));
    const onCpu = median(ons.map(cpuPer));
    return {
      tui_off_registers_per_s: Math.round(offRate),
      tui_on_registers_per_s: Math.round(onRate),
      tui_ratio_on_over_off: round3(onRate / Math.max(offRate, 1e-9)),
      tui_off_cpu_us_per_register: Math.round(offCpu),
      tui_on_cpu_us_per_register: Math.round(onCpu),
      tui_cpu_ratio_on_over_off: round3(onCpu / Math.max(offCpu, 1e-9)),
      tui_rounds: o.rounds,
      tui_off_failures: offs.reduce((n, r) => n + r.failed, 0),
      tui_on_failures: ons.reduce((n, r) => n + r.failed, 0),
      tui_concurrency: o.concurrency,
      tui_duration_ms: o.durationMs,
      tui_screen_showed_all: ons.every((r) => r.showedAll) ? 1 : 0,
    };
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  const result = await runTuiBench({
    durationMs: arg("duration") ? Number(arg("duration")) : undefined,
    warmupMs: arg("warmup") ? Number(arg("warmup")) : undefined,
    concurrency: arg("concurrency") ? Number(arg("concurrency")) : undefined,
    rounds: arg("rounds") ? Number(arg("rounds")) : undefined,
  });
  console.log(`REGISTER/s with the dashboard off: ${result.tui_off_registers_per_s}`);
  console.log(`REGISTER/s with the dashboard on:  ${result.tui_on_registers_per_s}`);
  console.log(`ratio on/off: ${result.tui_ratio_on_over_off}`);
  console.log(
    `server CPU per REGISTER off/on: ${result.tui_off_cpu_us_per_register} µs / ` +
      `${result.tui_on_cpu_us_per_register} µs (ratio ${result.tui_cpu_ratio_on_over_off})`,
  );
  console.log(JSON.stringify(result));
}
