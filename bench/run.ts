/**
 * @module `deno task bench`: sipws and Kamailio 5.6 measured side by side in one run on this
 * machine, phase by phase (bench/support/bench_flags.ts lists them; `--help` prints them and
 * every flag without running anything): closed-loop REGISTER (bench/closed_loop.ts); the
 * issue's open-loop ladders on one fresh process per server, REGISTER UDP, REGISTER TCP,
 * calls UDP, calls TCP, then overload and soak (bench/open_loop.ts); closed-loop calls over
 * UDP and TCP (bench/call_bench.ts); parser and transaction micro benches; the dashboard's
 * cost; connection churn and idle WebSocket clients; a 2-node cluster; `--workers 1` vs 2.
 * `--only=` / `--skip=` choose phases. Each phase prints its table as it ends; one JSON line
 * closes the run. `--write` replaces, in bench/RESULTS.md, the sections of the phases that
 * ran (others stay), and the README's benchmark block when every phase it reads ran. Every
 * load is bounded in time and count.
 */
import { formatClosedLoop, runClosedLoop } from "./closed_loop.ts";
import {
  callCapacity,
  formatOpenLoop,
  formatOverload,
  formatSoak,
  type OpenLoopResult,
  type OverloadResult,
  registerCapacity,
  runOpenLoop,
  runOverload,
  runSoak,
} from "./open_loop.ts";
import { type CallBenchResult, runCallBench } from "./call_bench.ts";
import { CALL_LOAD } from "./support/call_load.ts";
import type { Transport } from "./support/sipp_ladder.ts";
import { formatCallBench } from "./support/call_report.ts";
import { runParserBench } from "./parser_bench.ts";
import { runTransactionBench } from "./transaction_bench.ts";
import { runTuiBench } from "./tui_bench.ts";
import { formatChurnBench, runChurnBench } from "./churn_bench.ts";
import { formatWsIdleBench, runWsIdleBench } from "./ws_idle_bench.ts";
import { formatClusterBench, runClusterBench } from "./cluster_bench.ts";
import { formatWorkersBench, runWorkersBench, workersProse } from "./workers_bench.ts";
import { callsScaling, formatPhase, runWorkersCalls } from "./workers_calls.ts";
import {
  type BenchFlags,
  helpText,
  parseFlags,
  type PhaseName,
  PHASES,
  RATE_DEFAULTS,
} from "./support/bench_flags.ts";
import {
  CALL_OVERLOAD_PROSE,
  callsProse,
  CLOSED_LOOP_PROSE,
  CONNECTIONS_PROSE,
  MICRO_PROSE,
  OPEN_LOOP_PROSE,
  OVERLOAD_PROSE,
  type RunMeta,
  section,
  SOAK_PROSE,
  TUI_PROSE,
} from "./support/report_sections.ts";
import { replaceReadmeBlock, replaceSections, type Section } from "./support/results_file.ts";
import { readmeTable } from "./support/readme_table.ts";

/** What a phase hands back: its result, its printed lines, its sections, its failure. */
interface Outcome {
  result: unknown;
  lines: string[];
  sections: (meta: RunMeta) => Section[];
  /** Set when the phase shows sipws broken (not merely slower): the run exits 1. */
  error?: string;
}

type Results = Partial<Record<PhaseName, unknown>>;
const log = (line: string) => console.error(line);

/** Every heading a phase writes, for placing new sections (and for older names). */
const GENERATED = [
  "## Closed loop",
  "## Open loop",
  "## Open-loop call ladder",
  "## Overload",
  "## Call overload",
  "## Soak",
  "## Calls through the proxy",
  "## Parser and transactions",
  "## Dashboard",
  "## Connections",
  "## Cluster",
  "## Workers",
];

function phaseRunner(
  f: BenchFlags,
  results: Results,
): Record<PhaseName, () => Promise<Outcome>> {
  const quick = f.quick;
  const stepS = f.num("step-s", quick ? 3 : 6);
  const registerRates = f.list("register-rates", RATE_DEFAULTS.registerRates)!;
  const closedOpts = {
    durationMs: f.num("duration", 5000),
    warmupMs: f.num("warmup", 1000),
    concurrency: f.num("concurrency", 20),
  };
  /** sipws's UDP REGISTER limit: this run's ladder, else --capacity, else the overload's. */
  const capacity = (): [number | undefined, string] => {
    const ladder = registerCapacity(results["open-loop"] as OpenLoopResult | undefined);
    if (ladder) return [ladder, "this run's ladder"];
    if (f.value("capacity")) return [f.num("capacity", 0), "--capacity"];
    const over = (results.overload as OverloadResult | undefined)?.runs[0];
    return over ? [over.capacity, over.capacitySource] : [undefined, ""];
  };
  return {
    closed: async () => {
      const r = await runClosedLoop({ kamailio: f.kamailio, ...closedOpts });
      const failures = r.phases.filter((p) => p.server === "sipws")
        .reduce((s, p) => s + p.failures, 0);
      return {
        result: r,
        lines: formatClosedLoop(r),
        sections: (m) => [
          section(
            "## Closed loop: REGISTER + digest",
            m,
            [
              ...CLOSED_LOOP_PROSE,
              `Agents: ${r.settings.concurrency}; warm-up ${r.settings.warmupMs} ms, measured ` +
              `${r.settings.durationMs} ms per transport.`,
            ],
            formatClosedLoop(r),
            r,
          ),
        ],
        error: failures ? `sipws had ${failures} failed REGISTER transactions` : undefined,
      };
    },
    "open-loop": async () => {
      const r = await runOpenLoop({
        kamailio: f.kamailio,
        registerRates,
        callRates: f.list("call-ladder-rates", RATE_DEFAULTS.callLadderRates)!,
        stepS,
        log,
      });
      const none = r.ladders.filter((l) => l.maxRate.sipws === 0);
      return {
        result: r,
        lines: formatOpenLoop(r),
        sections: (m) => [
          section(
            "## Open loop: REGISTER and calls, UDP and TCP, one process per server",
            m,
            OPEN_LOOP_PROSE,
            formatOpenLoop(r),
            r,
            ["## Open loop", "## Open-loop call ladder"],
          ),
        ],
        error: none.length
          ? `open loop: sipws passed no rate of ${none.map((l) => `${l.op} ${l.transport}`)}`
          : undefined,
      };
    },
    overload: async () => {
      const [known, source] = capacity();
      const r = await runOverload({
        kamailio: f.kamailio,
        capacity: known,
        capacitySource: source,
        probeRates: registerRates,
        durationS: f.num("overload-s", quick ? 10 : 30),
        generator: f.value("overload-generator") === "sipp" ? "sipp" : "register_flood",
        log,
      });
      return {
        result: r,
        lines: formatOverload(r),
        sections: (m) => [section("## Overload", m, OVERLOAD_PROSE, formatOverload(r), r)],
      };
    },
    "call-overload": async () => {
      const ladder = callCapacity(results["open-loop"] as OpenLoopResult | undefined);
      const given = f.value("call-capacity") ? f.num("call-capacity", 0) : undefined;
      const r = await runOverload({
        kamailio: f.kamailio,
        capacity: ladder ?? given,
        capacitySource: ladder ? "this run's ladder" : "--call-capacity",
        probeRates: f.list("call-ladder-rates", RATE_DEFAULTS.callLadderRates)!,
        durationS: f.num("overload-s", quick ? 10 : 30),
        load: CALL_LOAD,
        transports:
          (f.value("call-overload-transports")?.split(",") ?? ["udp", "tcp"]) as Transport[],
        log,
      });
      return {
        result: r,
        lines: formatOverload(r),
        sections: (m) => [
          section("## Call overload", m, CALL_OVERLOAD_PROSE, formatOverload(r), r),
        ],
      };
    },
    soak: async () => {
      const [known, source] = capacity();
      const r = await runSoak({
        capacity: known,
        capacitySource: source,
        probeRates: registerRates,
        durationS: f.num("soak-s", quick ? 60 : 600),
        log,
      });
      return {
        result: r,
        lines: formatSoak(r),
        sections: (m) => [section("## Soak", m, SOAK_PROSE, formatSoak(r), r)],
        error: r.failed ? `soak: ${r.failed} failed registrations` : undefined,
      };
    },
    calls: async () => {
      const servers = f.kamailio ? undefined : ["sipws" as const];
      const rates = f.list("call-rates");
      const udp = await runCallBench({
        servers,
        rates,
        holdCalls: f.value("hold-calls") === undefined ? undefined : f.num("hold-calls", 0),
        log,
      });
      // The long hold says the memory per dialog; once (UDP) is enough.
      const tcp = await runCallBench({ servers, rates, holdCalls: 0, transport: "tcp", log });
      const lines = [...formatCallBench(udp), "", ...formatCallBench(tcp)];
      const broken = [udp, tcp].flatMap((c) =>
        c.servers.filter((s) =>
          s.server === "sipws" && (s.error || s.maxCps === 0 || (s.hold?.failed ?? 0) > 0)
        ).map((s) => `${c.settings.transport}: ${s.error ?? "no passing call rate"}`)
      );
      return {
        result: [udp, tcp],
        lines,
        sections: (m) => [
          section(
            "## Calls through the proxy, closed loop, UDP and TCP",
            m,
            callsProse(udp.settings),
            lines,
            [udp, tcp],
            ["## Calls through the proxy"],
          ),
        ],
        error: broken.length ? `sipws call bench: ${broken.join("; ")}` : undefined,
      };
    },
    micro: async () => {
      const parser = await runParserBench({ maxMs: 3000 });
      const transactions = await runTransactionBench(100_000);
      const lines = [
        `parser: REGISTER ${parser.register_per_s} msg/s, INVITE ${parser.invite_per_s} msg/s ` +
        `(hot headers read: ${parser.register_read_hot_per_s} / ${parser.invite_read_hot_per_s})`,
        `transactions (100k INVITE server tx): create ${transactions.tx_wheel_create_ns_per_op} ` +
        `ns/op, rss +${transactions.tx_wheel_rss_delta_mb} MB (timer wheel)`,
      ];
      const result = { parser, transactions };
      return {
        result,
        lines,
        sections: (m) => [section("## Parser and transactions", m, MICRO_PROSE, lines, result)],
      };
    },
    tui: async () => {
      const r = await runTuiBench();
      const lines = [
        `dashboard (--tui) on/off: REGISTER/s ${r.tui_on_registers_per_s} / ` +
        `${r.tui_off_registers_per_s} (ratio ${r.tui_ratio_on_over_off}, target ≥ 0.9); ` +
        `server CPU per REGISTER ${r.tui_on_cpu_us_per_register} / ` +
        `${r.tui_off_cpu_us_per_register} µs`,
      ];
      return {
        result: r,
        lines,
        sections: (m) => [section("## Dashboard on and off", m, TUI_PROSE, lines, r)],
      };
    },
    conn: async () => {
      const churn = await runChurnBench(f.num("churn-cycles", 2000));
      const wsIdle = await runWsIdleBench({
        clients: f.num("ws-clients", 5000),
        holdSeconds: f.num("ws-hold", 60),
        log,
      });
      const lines = [...formatChurnBench(churn), ...formatWsIdleBench(wsIdle)];
      const closed = wsIdle.serverCloses > 0 || wsIdle.registered < wsIdle.clients;
      return {
        result: { churn, wsIdle },
        lines,
        sections: (
          m,
        ) => [section("## Connections", m, CONNECTIONS_PROSE, lines, { churn, wsIdle })],
        error: closed
          ? `ws idle hold: ${wsIdle.serverCloses} clients closed by the server`
          : undefined,
      };
    },
    cluster: async () => {
      const r = await runClusterBench(closedOpts);
      // Its report is markdown (heading, tables): the heading is the section's.
      const lines = formatClusterBench(r);
      const heading = lines.find((l) => l.startsWith("## "))!;
      const body = lines.slice(lines.indexOf(heading) + 1);
      return {
        result: r,
        lines,
        sections: (m) => [section(heading, m, body, [], r, ["## Cluster"])],
      };
    },
    workers: async () => {
      // register_flood (C) offers the closed loop of both transports (TCP: 8 connections) at a
      // fraction of sipp's CPU, so the scaling is the server's, not sipp's; 200 in flight.
      const generator = f.value("workers-generator") ?? "register_flood";
      if (generator !== "sipp" && generator !== "register_flood") {
        throw new Error(`--workers-generator=${generator}: register_flood or sipp`);
      }
      const r = await runWorkersBench({
        ...closedOpts,
        concurrency: f.value("concurrency") ? closedOpts.concurrency : 200,
        workers: 2,
        generator,
      });
      // Calls too: bench/loadgen/call_flood.c is caller and callee at a fraction of two sipps'
      // CPU; a closed loop of 100 calls in flight (50 left 2 workers waiting on the loop), 2
      // rounds, workers interleaved.
      const calls = await runWorkersCalls({
        roots: [new URL("../", import.meta.url).pathname],
        workersList: [1, r.workers],
        ...{ generator: "call_flood", transport: "udp", concurrency: 100, rounds: 2 } as const,
        seconds: closedOpts.durationMs / 1000,
      });
      const lines = [
        ...formatWorkersBench(r),
        ...calls.map((p, i) => formatPhase(p, (i >> 1) + 1, "call_flood")),
        `scaling calls UDP (call_flood, ${r.workers} workers / 1): ${
          callsScaling(calls).toFixed(2)
        }`,
      ];
      return {
        result: { ...r, calls },
        lines,
        sections: (m) => [
          section(
            `## Workers: --workers 1 vs --workers ${r.workers}`,
            m,
            [
              ...workersProse(r),
              "Calls: bench/loadgen/call_flood.c over UDP (caller and callee in one C process, " +
              "each call with a 407), 100 in flight, 2 rounds interleaved; CPU per call by thread.",
            ],
            lines,
            { ...r, calls },
            ["## Workers"],
          ),
        ],
      };
    },
  };
}

const loadavg = () => Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");

function machine(kamailio: boolean): string {
  const cpu = /^model name\s*:\s*(.+)$/m.exec(Deno.readTextFileSync("/proc/cpuinfo"))?.[1];
  return `${navigator.hardwareConcurrency} cores (${cpu ?? "unknown CPU"}), Deno ` +
    `${Deno.version.deno}` + (kamailio ? ", Kamailio 5.6 (/usr/sbin/kamailio)" : "");
}

/** The phases the README table reads: it is rewritten only after a run of all of them. */
const TABLE_PHASES: PhaseName[] = ["closed", "open-loop", "overload", "soak", "calls"];

async function write(results: Results, sections: Section[], meta: RunMeta) {
  const resultsUrl = new URL("./RESULTS.md", import.meta.url);
  const old = await Deno.readTextFile(resultsUrl).catch(() => "");
  await Deno.writeTextFile(resultsUrl, replaceSections(old, sections, GENERATED));
  const files = [resultsUrl.pathname];
  const missing = TABLE_PHASES.filter((p) => !(p in results));
  if (missing.length) {
    console.log(`README table not rewritten: phases ${missing.join(", ")} did not run`);
  } else {
    const readmeUrl = new URL("../README.md", import.meta.url);
    const table = readmeTable({
      date: meta.date,
      command: meta.command,
      machine: meta.machine,
      loadavg: meta.loadBefore,
      closed: results.closed as Parameters<typeof readmeTable>[0]["closed"],
      openLoop: results["open-loop"] as OpenLoopResult,
      overload: results.overload as OverloadResult,
      soak: results.soak as Parameters<typeof readmeTable>[0]["soak"],
      calls: results.calls as CallBenchResult[],
      sipwsWorkers: Deno.env.get("SIPWS_BENCH_WORKERS"),
    });
    await Deno.writeTextFile(
      readmeUrl,
      replaceReadmeBlock(await Deno.readTextFile(readmeUrl), table),
    );
    files.push(readmeUrl.pathname);
  }
  // The generated tables are aligned as `deno fmt` would (the repo's check).
  await new Deno.Command(Deno.execPath(), { args: ["fmt", "-q", ...files] }).output();
  console.log(`wrote ${files.join(", ")}`);
}

async function main() {
  let flags: BenchFlags;
  try {
    flags = parseFlags(Deno.args);
  } catch (e) {
    console.error(`error: ${(e as Error).message}\n\n${helpText()}`);
    Deno.exit(2);
  }
  if (flags.help) {
    console.log(helpText());
    return;
  }
  // Every sipws a phase starts takes it from the environment (serveArgs, bench/support/sipws.ts).
  if (flags.value("sipws-workers") !== undefined) {
    Deno.env.set("SIPWS_BENCH_WORKERS", String(flags.num("sipws-workers", 0)));
  }
  const began = performance.now();
  const loadStart = loadavg();
  const date = new Date().toISOString();
  const command = `deno task bench ${Deno.args.join(" ")}`.trim();
  const results: Results = {};
  const sections: Section[] = [];
  const errors: string[] = [];
  const runners = phaseRunner(flags, results);
  const host = machine(flags.kamailio);
  log(`phases: ${flags.phases.join(", ")}`);
  for (const name of flags.phases) {
    log(`--- ${name}: ${PHASES[name]}`);
    const loadBefore = loadavg();
    const t0 = performance.now();
    // A phase that throws is reported, and the others still run and are written.
    const outcome = await runners[name]().catch((e: Error) => {
      errors.push(`${name}: ${e.message}`);
      return undefined;
    });
    if (!outcome) continue;
    results[name] = outcome.result;
    const meta = { date, command, machine: host, loadBefore, loadAfter: loadavg() };
    sections.push(...outcome.sections(meta));
    console.log(
      [`== ${name} (${Math.round((performance.now() - t0) / 1000)} s)`, ...outcome.lines, ""]
        .join("\n"),
    );
    if (outcome.error) errors.push(outcome.error);
  }
  const totalSeconds = Math.round((performance.now() - began) / 100) / 10;
  console.log(JSON.stringify({ date, command, machine: host, totalSeconds, results }));
  if (flags.write) {
    await write(results, sections, {
      date,
      command,
      machine: host,
      loadBefore: loadStart,
      loadAfter: loadavg(),
    });
  }
  for (const e of errors) console.error(`error: ${e}`);
  if (errors.length) Deno.exit(1);
}

if (import.meta.main) await main();
