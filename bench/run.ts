/**
 * @module `deno task bench`: one run that measures, side by side, REGISTER-with-digest
 * throughput and p50/p99 latency over UDP and TCP against sipws (started as a subprocess
 * from main.ts) and, when /usr/sbin/kamailio exists, against Kamailio (2 workers, in-memory
 * location, bench/kamailio/kamailio.cfg.tmpl) under the same load from
 * bench/register_load.ts, with the ratio sipws/Kamailio; the parser's messages/s
 * (bench/parser_bench.ts); the transaction layer bench (bench/transaction_bench.ts); and
 * the RSS and CPU time of each server; and calls through the proxy (bench/call_bench.ts:
 * sipp UAC → server → sipp UAS over UDP, the highest calls/s with no failed call and the
 * concurrent dialogs held, with memory, sipws and Kamailio side by side); connection churn
 * on the TCP, TLS and WSS listeners (bench/churn_bench.ts) and idle WebSocket clients held
 * (bench/ws_idle_bench.ts). Every phase is
 * bounded in time. Prints a table and one JSON line; `--write` also writes (keeping its hand-written sections)
 * bench/RESULTS.md. Flags: `--duration=MS` per measured phase (default 5000),
 * `--warmup=MS` (default 1000), `--concurrency=N` simulated agents (default 20),
 * `--no-kamailio`, `--no-micro` (skip parser/transaction benches), `--no-tui` (skip the
 * dashboard on/off comparison), `--no-calls` (skip the
 * call bench), `--call-rates=200,400,...`, `--hold-calls=N` (0 skips the long hold),
 * `--no-conn` (skip the connection benches), `--churn-cycles=N` (default 2000),
 * `--ws-clients=N` (default 5000), `--ws-hold=S` (default 60); REGISTER standalone vs a
 * 2-node cluster on one Redis (bench/cluster_bench.ts; `--no-cluster` skips it); open loop
 * (bench/open_loop.ts, fresh servers): `--no-open-loop`, `--register-rates=2000,4000,...`,
 * `--step-s=6`, `--overload-s=30`, `--soak-s=600` (0 skips), `--quick` (3 s steps, 10 s
 * overload, 60 s soak); the open-loop call ladder, authenticated calls over UDP and TCP
 * (bench/call_ladder.ts, fresh servers, same steps): `--no-call-ladder`,
 * `--call-ladder-rates=200,400,...`; REGISTER with `--workers 1` vs `--workers 2` (bench/workers_bench.ts:
 * scaling factor and CPU µs per registration; `--no-workers` skips it).
 */
import { type RegisterLoadResult, runRegisterLoad } from "./register_load.ts";
import { runParserBench } from "./parser_bench.ts";
import { runTransactionBench } from "./transaction_bench.ts";
import { type CallBenchResult, runCallBench } from "./call_bench.ts";
import { formatCallBench } from "./support/call_report.ts";
import { runTuiBench, type TuiBenchResult } from "./tui_bench.ts";
import { type ChurnBenchResult, formatChurnBench, runChurnBench } from "./churn_bench.ts";
import { formatWsIdleBench, runWsIdleBench, type WsIdleResult } from "./ws_idle_bench.ts";
import { type ClusterBenchResult, formatClusterBench, runClusterBench } from "./cluster_bench.ts";
import {
  formatWorkersBench,
  runWorkersBench,
  type WorkersBenchResult,
  workersMarkdown,
} from "./workers_bench.ts";
import { groupPids, groupTicks, mb, statusKb } from "./support/proc.ts";
import {
  BENCH_ACCOUNT as ACCOUNT,
  KAMAILIO,
  type Registrar,
  startKamailioRegistrar,
  startSipwsRegistrar,
} from "./support/registrars.ts";
import { formatOpenLoop, type OpenLoopResult, runOpenLoopBench } from "./open_loop.ts";
import {
  CALL_LADDER_HEADING,
  callLadderMarkdown,
  type CallLadderResult,
  formatCallLadder,
  runCallLadder,
} from "./call_ladder.ts";
import { arg } from "./support/args.ts";
import { resultsSection } from "./support/results_section.ts";

const flag = (name: string) => Deno.args.includes(`--${name}`);

const DURATION = Number(arg("duration") ?? 5000);
const WARMUP = Number(arg("warmup") ?? 1000);
const CONCURRENCY = Number(arg("concurrency") ?? 20);

interface Phase extends RegisterLoadResult {
  server: string;
  /** Server CPU time during the measured phase, as % of one core. */
  serverCpuPct: number;
  /** Resident set size of the server (sum over its processes) after the phase, MB. */
  serverRssMb: number;
  /** Peak RSS (VmHWM) of the server's main process, MB. */
  serverPeakRssMb: number;
}

async function measure(server: Registrar, transport: "udp" | "tcp"): Promise<Phase> {
  const base = {
    host: "127.0.0.1",
    port: server.port,
    transport,
    ...ACCOUNT,
    concurrency: CONCURRENCY,
    connections: 2,
  };
  if (WARMUP > 0) await runRegisterLoad({ ...base, durationMs: WARMUP });
  const ticks0 = groupTicks(server.child.pid);
  const t0 = performance.now();
  const result = await runRegisterLoad({ ...base, durationMs: DURATION });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = (groupTicks(server.child.pid) - ticks0) / 100;
  const pids = groupPids(server.child.pid);
  return {
    server: server.name,
    ...result,
    serverCpuPct: Math.round((cpu / seconds) * 100),
    serverRssMb: mb(pids.reduce((sum, p) => sum + statusKb(p, "VmRSS"), 0)),
    serverPeakRssMb: mb(statusKb(server.child.pid, "VmHWM")),
  };
}

interface Running {
  server: Registrar;
  idleRssMb: number;
}

async function launch(start: () => Promise<Registrar>): Promise<Running> {
  const server = await start();
  const pids = groupPids(server.child.pid);
  return { server, idleRssMb: mb(pids.reduce((sum, p) => sum + statusKb(p, "VmRSS"), 0)) };
}

async function shutdown(r: Running | undefined): Promise<void> {
  await r?.server.stop();
}

const loadavg = () => Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");

function pad(s: string | number, n: number): string {
  return String(s).padStart(n);
}

async function main() {
  const startedAt = new Date();
  const began = performance.now();
  const loadBefore = loadavg();
  let sipwsRun: Running | undefined;
  let kamailioRun: Running | undefined;
  let kamailioSkipped = "";
  const sipwsPhases: Phase[] = [];
  const kamailioPhases: Phase[] = [];
  try {
    sipwsRun = await launch(startSipwsRegistrar);
    if (flag("no-kamailio")) kamailioSkipped = "--no-kamailio";
    else {
      try {
        await Deno.stat(KAMAILIO);
        kamailioRun = await launch(startKamailioRegistrar);
      } catch (e) {
        kamailioSkipped = e instanceof Deno.errors.NotFound
          ? `${KAMAILIO} not installed`
          : String(e);
      }
    }
    // Interleaved, so a change in background load hits both servers alike.
    for (const transport of ["udp", "tcp"] as const) {
      sipwsPhases.push(await measure(sipwsRun.server, transport));
      if (kamailioRun) kamailioPhases.push(await measure(kamailioRun.server, transport));
    }
  } finally {
    await shutdown(sipwsRun);
    await shutdown(kamailioRun);
  }
  const sipws = { phases: sipwsPhases, idleRssMb: sipwsRun!.idleRssMb };
  const kamailio = kamailioRun
    ? { phases: kamailioPhases, idleRssMb: kamailioRun.idleRssMb }
    : undefined;
  // Fresh processes for the open-loop REGISTER runs (the protocol), after the
  // closed-loop servers are gone.
  const quick = flag("quick");
  const openLoop: OpenLoopResult | undefined = flag("no-open-loop")
    ? undefined
    : await runOpenLoopBench({
      kamailio: !flag("no-kamailio"),
      rates: (arg("register-rates") ??
        "2000,4000,6000,8000,10000,12000,15000,18000,21000,25000,30000")
        .split(",").map(Number),
      stepS: Number(arg("step-s") ?? (quick ? 3 : 6)),
      overloadS: Number(arg("overload-s") ?? (quick ? 10 : 30)),
      soakS: Number(arg("soak-s") ?? (quick ? 60 : 600)),
      log: (line) => console.error(line),
    });
  // The call protocol, open loop, on fresh servers of its own.
  const callLadder: CallLadderResult | undefined = flag("no-call-ladder")
    ? undefined
    : await runCallLadder({
      kamailio: !flag("no-kamailio"),
      rates: (arg("call-ladder-rates") ?? "200,400,800,1200,1600,2400,3200")
        .split(",").map(Number),
      stepS: Number(arg("step-s") ?? (quick ? 3 : 6)),
      log: (line) => console.error(line),
    });
  // After the REGISTER servers are gone, so they take no CPU from the call load.
  const calls: CallBenchResult | undefined = flag("no-calls") ? undefined : await runCallBench({
    servers: flag("no-kamailio") ? ["sipws"] : undefined,
    rates: arg("call-rates")?.split(",").map(Number),
    holdCalls: arg("hold-calls") === undefined ? undefined : Number(arg("hold-calls")),
    log: (line) => console.error(line),
  });
  const parser = flag("no-micro") ? undefined : await runParserBench({ maxMs: 3000 });
  const transactions = flag("no-micro") ? undefined : await runTransactionBench(100_000);
  const tui: TuiBenchResult | undefined = flag("no-tui") ? undefined : await runTuiBench();
  const churn: ChurnBenchResult | undefined = flag("no-conn")
    ? undefined
    : await runChurnBench(Number(arg("churn-cycles") ?? 2000));
  const wsIdle: WsIdleResult | undefined = flag("no-conn") ? undefined : await runWsIdleBench({
    clients: Number(arg("ws-clients") ?? 5000),
    holdSeconds: Number(arg("ws-hold") ?? 60),
    log: (line) => console.error(line),
  });
  const cluster: ClusterBenchResult | undefined = flag("no-cluster")
    ? undefined
    : await runClusterBench({ durationMs: DURATION, warmupMs: WARMUP, concurrency: CONCURRENCY });
  const workers: WorkersBenchResult | undefined = flag("no-workers")
    ? undefined
    : await runWorkersBench({ durationMs: DURATION, warmupMs: WARMUP, workers: 2 });

  const rows = [...sipws.phases, ...(kamailio?.phases ?? [])];
  const loadAfter = loadavg();
  const ratio: Record<string, number> = {};
  for (const t of ["udp", "tcp"] as const) {
    const a = sipws.phases.find((p) => p.transport === t);
    const b = kamailio?.phases.find((p) => p.transport === t);
    if (a && b && b.registrationsPerSec > 0) {
      ratio[t] = Math.round((a.registrationsPerSec / b.registrationsPerSec) * 100) / 100;
    }
  }
  const cpuInfo = Deno.readTextFileSync("/proc/cpuinfo");
  const machine = {
    cores: navigator.hardwareConcurrency,
    cpu: /^model name\s*:\s*(.+)$/m.exec(cpuInfo)?.[1] ?? "unknown",
    os: Deno.build.os,
    deno: Deno.version.deno,
    kamailio: kamailio ? "5.6 (" + KAMAILIO + ")" : kamailioSkipped,
    loadavgBefore: loadBefore,
    loadavgAfter: loadAfter,
  };
  const report = {
    date: startedAt.toISOString(),
    command: `deno task bench ${Deno.args.join(" ")}`.trim(),
    machine,
    settings: { durationMs: DURATION, warmupMs: WARMUP, concurrency: CONCURRENCY, connections: 2 },
    register: rows,
    ratioSipwsOverKamailio: ratio,
    openLoop,
    callLadder,
    sipwsIdleRssMb: sipws.idleRssMb,
    kamailioIdleRssMb: kamailio?.idleRssMb,
    parser,
    transactions,
    calls,
    tui,
    churn,
    wsIdle,
    cluster,
    workers,
    totalSeconds: Math.round((performance.now() - began) / 100) / 10,
  };

  const header = "server    transport  reg/s   tx/s    p50 ms  p99 ms  fail  retx  cpu%  rss MB";
  const lines = [header, "-".repeat(header.length)];
  for (const r of rows) {
    lines.push(
      `${r.server.padEnd(9)} ${r.transport.padEnd(9)} ${pad(r.registrationsPerSec, 6)} ` +
        `${pad(r.transactionsPerSec, 6)} ${pad(r.p50Ms.toFixed(2), 7)} ${
          pad(r.p99Ms.toFixed(2), 7)
        } ` +
        `${pad(r.failures, 5)} ${pad(r.retransmissions, 5)} ${pad(r.serverCpuPct, 5)} ` +
        `${pad(r.serverRssMb, 7)}`,
    );
  }
  for (const [t, v] of Object.entries(ratio)) lines.push(`ratio sipws/kamailio ${t}: ${v}`);
  if (kamailioSkipped) lines.push(`kamailio: skipped (${kamailioSkipped})`);
  if (parser) {
    lines.push(
      `parser: REGISTER ${parser.register_per_s} msg/s, INVITE ${parser.invite_per_s} msg/s ` +
        `(hot headers read: ${parser.register_read_hot_per_s} / ${parser.invite_read_hot_per_s})`,
    );
  }
  if (transactions) {
    lines.push(
      `transactions (100k INVITE server tx): create ${transactions.tx_wheel_create_ns_per_op} ns/op, ` +
        `rss +${transactions.tx_wheel_rss_delta_mb} MB (timer wheel)`,
    );
  }
  if (tui) {
    lines.push(
      `dashboard (--tui) on/off: REGISTER/s ${tui.tui_on_registers_per_s} / ` +
        `${tui.tui_off_registers_per_s} (ratio ${tui.tui_ratio_on_over_off}, target ≥ 0.9); ` +
        `server CPU per REGISTER ${tui.tui_on_cpu_us_per_register} / ` +
        `${tui.tui_off_cpu_us_per_register} µs`,
    );
  }
  const openLoopLines = openLoop ? formatOpenLoop(openLoop) : [];
  const callLadderLines = callLadder ? formatCallLadder(callLadder) : [];
  const callLines = calls ? formatCallBench(calls) : [];
  lines.push(
    `idle RSS: sipws ${sipws.idleRssMb} MB` +
      (kamailio ? `, kamailio ${kamailio.idleRssMb} MB (all processes)` : "") +
      `; load average before ${loadBefore}, after ${loadAfter}; total ${report.totalSeconds} s`,
  );
  const connLines = [
    ...(churn ? formatChurnBench(churn) : []),
    ...(wsIdle ? formatWsIdleBench(wsIdle) : []),
  ];
  const clusterLines = cluster ? formatClusterBench(cluster) : [];
  const workersLines = workers ? ["", ...formatWorkersBench(workers)] : [];
  console.log(
    [
      ...lines,
      ...(openLoopLines.length ? ["", ...openLoopLines] : []),
      ...(callLadderLines.length ? ["", ...callLadderLines] : []),
      ...(callLines.length ? ["", ...callLines] : []),
      ...(connLines.length ? ["", ...connLines] : []),
      ...clusterLines,
      ...workersLines,
    ].join("\n"),
  );
  console.log(JSON.stringify(report));

  const failures = rows.reduce((sum, r) => sum + r.failures, 0);
  if (flag("write")) {
    const generated = resultsMarkdown(report, lines) +
      (openLoop ? openLoopMarkdown(openLoopLines) : "") +
      (callLadder ? callLadderMarkdown(callLadderLines) : "") +
      (calls ? callsMarkdown(calls, callLines) : "") +
      connectionsMarkdown(churn, wsIdle) +
      (clusterLines.length ? clusterLines.join("\n") + "\n" : "") +
      (workers ? workersMarkdown(workers) : "");
    await Deno.writeTextFile(
      new URL("./RESULTS.md", import.meta.url),
      generated + await keptSections(generated),
    );
    console.log("wrote bench/RESULTS.md");
  }
  if (sipws.phases.some((p) => p.failures > 0)) {
    console.error(`error: sipws had ${failures} failed REGISTER transactions`);
    Deno.exit(1);
  }
  if (wsIdle && (wsIdle.serverCloses > 0 || wsIdle.registered < wsIdle.clients)) {
    console.error(`error: ws idle hold: ${wsIdle.serverCloses} clients closed by the server`);
    Deno.exit(1);
  }
  const noCallRate = callLadder?.ladders.filter((l) => l.maxRate.sipws === 0) ?? [];
  if (noCallRate.length) {
    console.error(
      `error: open-loop call ladder: sipws passed no rate over ` +
        noCallRate.map((l) => l.transport).join(", "),
    );
    Deno.exit(1);
  }
  // A failing ladder step is how the limit is found; no passing step at all, a server that
  // did not start, or failed calls in the long hold are errors.
  const sipwsCalls = calls?.servers.find((s) => s.server === "sipws");
  if (
    sipwsCalls &&
    (sipwsCalls.error || sipwsCalls.maxCps === 0 || (sipwsCalls.hold?.failed ?? 0) > 0)
  ) {
    console.error(`error: sipws call bench: ${sipwsCalls.error ?? "no passing call rate"}`);
    Deno.exit(1);
  }
}

/** The connection benches' section of bench/RESULTS.md (empty when skipped). */
function connectionsMarkdown(churn?: ChurnBenchResult, wsIdle?: WsIdleResult): string {
  if (!churn && !wsIdle) return "";
  return resultsSection("## Connections", [
    "Churn (bench/churn_bench.ts): sipws with TCP, TLS and WSS ports; per port, one client opens",
    "and closes TCP connections as fast as it can (connect, then close; every second close with",
    "RST through SO_LINGER 0), then a REGISTER over a new TCP connection is timed to its answer.",
    "Targets: 2,000 cycles under 5 s per port, the REGISTER answered under 100 ms.",
    "",
    "Idle WebSocket hold (bench/ws_idle_bench.ts): N clients (Deno's WebSocket, which answers",
    "pings as browsers do) each register their own user with digest, then stay idle, answering",
    "only the server's OPTIONS with 200; the server runs with `[websocket] ping_interval` as",
    "shown and the default `ping_timeout` (20 s). Counted: clients the server closed during the",
    "hold (target 0), bindings at the end, server RSS per client (growth over the idle server",
    "divided by N; bindings and connections). `--ws-clients=19000 --ws-hold=300` is the issue's",
    "full target (needs 20,000 descriptors per process).",
  ], [
    ...(churn ? formatChurnBench(churn) : []),
    ...(wsIdle ? formatWsIdleBench(wsIdle) : []),
  ]);
}

/** Headings of the sections the phases of this bench write. */
const GENERATED = [
  "## Open loop",
  CALL_LADDER_HEADING,
  "## Calls through the proxy",
  "## Connections",
  "## Cluster",
  "## Workers: --workers",
];

/**
 * Sections of the old bench/RESULTS.md this run did not write (hand-kept ones: the log of
 * cost changes with its before/after per change, other benches' notes) survive a rewrite.
 */
async function keptSections(generated: string): Promise<string> {
  let old: string;
  try {
    old = await Deno.readTextFile(new URL("./RESULTS.md", import.meta.url));
  } catch {
    return "";
  }
  const headings = new Set(generated.split("\n").filter((l) => l.startsWith("## ")));
  const kept = old.split(/\n(?=## )/).slice(1).filter((section) => {
    const heading = section.slice(0, section.indexOf("\n") >>> 0);
    // A section a phase writes is not kept even when this run skipped the phase: its
    // figures would sit beside this run's as if measured with them.
    return !headings.has(heading) && !GENERATED.some((prefix) => heading.startsWith(prefix));
  });
  return kept.map((section) => "\n" + section.trimEnd() + "\n").join("");
}

/** The open-loop section of bench/RESULTS.md. */
function openLoopMarkdown(table: string[]): string {
  return resultsSection("## Open loop: REGISTER + digest ladder, overload, soak", [
    "Fresh sipws and Kamailio processes (bench/open_loop.ts), each warmed up 2 s per",
    "transport at the lowest rate, then sipp (bench/scenarios/register_digest.xml) offers a",
    "fixed rate per step (`-r R -m stepS·R`; over TCP two sipp instances, two connections),",
    "servers alternating step by step. A step passes when failed + unfinished + 503'd",
    "registrations are under 0.1 %, the achieved rate is ≥ 97 % of the offered one and p99 ≤",
    "200 ms; a failed step is tried once more. `µs/reg` is the server's CPU time over the",
    "step per registration (2 transactions), `mem` sipws's VmRSS or Kamailio's PSS summed",
    "over its processes, peak over the step. `+` after a limit: the ladder's top passed.",
    "Overload: 2× sipws's UDP limit for the overload time, against both servers. Soak: half",
    "sipws's UDP limit, memory every 10 s.",
  ], table);
}

/** The call bench's section of bench/RESULTS.md. */
function callsMarkdown(calls: CallBenchResult, table: string[]): string {
  const st = calls.settings;
  return resultsSection("## Calls through the proxy", [
    "Same run, after the REGISTER phase (bench/call_bench.ts). For each server a sipp UAS",
    "(bench/scenarios/uas_load.xml) is registered as bob@example.test over UDP with digest",
    "credentials, its Contact being its own port; a sipp UAC (bench/scenarios/uac_load.xml)",
    "calls bob through the server over UDP: INVITE → 100 → 180 → 200 → ACK → hold → BYE → 200.",
    "The caller is of a foreign domain (caller.test), so neither server challenges the INVITE",
    "(sipws's policy for callers of other domains; Kamailio's script does the same): both",
    "record-route, look bob up in an in-memory location table, relay INVITE and BYE",
    "statefully and track the dialog (Kamailio with its dialog module,",
    "bench/kamailio/kamailio_proxy.cfg.tmpl). **sipws is single-threaded (one core); Kamailio",
    "runs 2 UDP worker processes (children=2)**, the issue's reference; sipp UAC and UAS run",
    "on the same 2 cores.",
    "",
    `Rate ladder: ${st.rates.join(", ")} calls/s offered (sipp -r, -rp 1000), ` +
    `${st.stepMs} ms of calls per step, ${st.stepHoldMs} ms hold, servers interleaved step by`,
    "step; a step passes with every call successful, retransmissions (UAC + UAS) ≤ 1% of the",
    "calls and ≥ 90% of the offered rate reached; a failed step gets one second attempt",
    "(`(2)`), and a server stops at a rate that failed twice. `inv→200` is sipp's mean",
    "INVITE → 200 time (ms resolution); `cpu%` the server's CPU over the sipp run (100 = one",
    "core; diluted in a failing step by its tail) and `cpu ms/call` its CPU time per call;",
    "`probe` the round trip of OPTIONS sent to the server every 20 ms during the step;",
    "`drops srv/cli` datagrams the kernel dropped on the server's UDP socket (receive buffer",
    "full: the server did not read in time) and on the sipp sockets; `mem` sipws's VmRSS or",
    "Kamailio's PSS summed over its processes (shared memory counted once). The ratio",
    "compares the highest passing rates; when Kamailio passed every step, its figure is the",
    "ladder's top, not its limit. The machine is shared with other work (see the load",
    "average above): a rate that fails once and passes on its second attempt shows such",
    "interference, which hits both servers alike since their steps are interleaved.",
    "",
    `Long hold: ${st.holdCalls} calls at ${st.holdRate}/s, each held until all are up; peak`,
    "concurrent calls from sipp, sipws's `sipws_dialogs` gauge (GET /metrics), memory at the",
    "peak and after the calls ended (kB/dialog = growth over the run / peak calls). It runs",
    "right after a short warm-up, before the ladder, so the growth is the dialogs'.",
  ], table);
}

function resultsMarkdown(
  report: Record<string, unknown> & { date: string },
  table: string[],
): string {
  const r = report as unknown as {
    date: string;
    command: string;
    machine: { cores: number; cpu: string; deno: string; kamailio: string };
    settings: { durationMs: number; warmupMs: number; concurrency: number };
  };
  return [
    "# Benchmark results",
    "",
    `Measured ${r.date.slice(0, 10)} on ${r.machine.cores} cores (${r.machine.cpu}), Deno ` +
    `${r.machine.deno}, Kamailio: ${r.machine.kamailio}. Load generator (bench/register_load.ts) ` +
    `on the same machine: ${r.settings.concurrency} simulated agents over 2 sockets/connections, ` +
    `each looping REGISTER → 401 → REGISTER with MD5 qop=auth → 200; ${r.settings.warmupMs} ms ` +
    `warm-up, then ${r.settings.durationMs} ms measured per transport.`,
    "",
    "Command: `" + r.command + "`",
    "",
    "```",
    ...table,
    "```",
    "",
    "`reg/s` counts completed registrations (challenge + authenticated REGISTER → 200); `tx/s`",
    "counts REGISTER transactions (both legs); p50/p99 are per transaction; `cpu%` is the",
    "server's CPU time during the phase (100 = one core; Kamailio summed over its processes).",
    "",
    "Raw JSON:",
    "",
    "```json",
    JSON.stringify(report, null, 2),
    "```",
    "",
  ].join("\n");
}

if (import.meta.main) await main();
