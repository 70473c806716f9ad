/**
 * @module The README's benchmark table, built from one run's results (closed loop, open
 * loop, overload, soak, calls), never typed in: `deno task bench --write` puts it between the
 * README's bench markers. Not part of the product.
 */
import type { ClosedLoopResult } from "../closed_loop.ts";
import type { OpenLoopResult, OverloadResult, SoakResult } from "../open_loop.ts";
import type { CallBenchResult } from "../call_bench.ts";
import { cpuUsAtMax } from "./call_report.ts";
import type { LadderResult } from "./sipp_ladder.ts";

export interface TableInputs {
  date: string;
  command: string;
  machine: string;
  loadavg: string;
  closed: ClosedLoopResult;
  openLoop: OpenLoopResult;
  overload: OverloadResult;
  soak: SoakResult;
  calls: CallBenchResult[];
  /** sipws's `--workers` in the run (`--sipws-workers`); undefined: the product default. */
  sipwsWorkers?: string;
}

/** 12345 → "12 345". */
const n = (v: number) => Math.round(v).toString().replace(/\B(?=(\d{3})+(?!\d))/g, " ");
const ratio = (a?: number, b?: number) => (a !== undefined && b ? (a / b).toFixed(2) : "");

function closedRow(r: ClosedLoopResult, transport: string): string[] {
  const cell = (server: string) => {
    const p = r.phases.find((x) => x.server === server && x.transport === transport);
    return p
      ? `${n(p.registrationsPerSec)}/s (${p.p50Ms.toFixed(1)} / ${p.p99Ms.toFixed(1)} ms), ` +
        `${p.cpuUsPerRegistration} µs/reg, ${p.peakMemMb} MB`
      : "–";
  };
  return [
    `REGISTER + digest, closed loop, ${transport.toUpperCase()}`,
    cell("sipws"),
    cell("kamailio"),
    r.ratio[transport]?.toFixed(2) ?? "",
  ];
}

function ladderRow(l: LadderResult): string[] {
  const cell = (server: string) => {
    if (!(server in l.maxRate)) return "–";
    const rate = l.maxRate[server];
    const step = l.steps.findLast((s) => s.server === server && s.passed && s.rate === rate);
    if (!step) return `none passed (lowest ${n(l.rates[0])}/s)`;
    return `${n(rate)}/s${l.capped.includes(server) ? "+" : ""} (${step.p50Ms} / ` +
      `${step.p99Ms} ms), ${step.cpuUsPerOp} µs/${l.op}, ${step.peakMemMb} MB`;
  };
  const what = l.op === "reg" ? "REGISTER + digest" : "calls (407 + digest)";
  return [
    `${what}, open loop, ${l.transport.toUpperCase()}: highest passing rate`,
    cell("sipws"),
    cell("kamailio"),
    ratio(l.maxRate.sipws, l.maxRate.kamailio),
  ];
}

function callsRow(r: CallBenchResult): string[] {
  const cell = (server: string) => {
    const s = r.servers.find((x) => x.server === server);
    if (!s) return "–";
    if (s.error) return "error";
    return `${n(s.maxCps)}/s${s.ladderCapped ? "+" : ""}, ${cpuUsAtMax(s)} µs/call`;
  };
  return [
    `calls, closed-loop ladder, ${r.settings.transport.toUpperCase()}: highest passing rate`,
    cell("sipws"),
    cell("kamailio"),
    r.ratioSipwsOverKamailio?.toFixed(2) ?? "",
  ];
}

export function readmeTable(t: TableInputs): string {
  const rows: string[][] = [
    closedRow(t.closed, "udp"),
    closedRow(t.closed, "tcp"),
    ...t.openLoop.ladders.map(ladderRow),
    ...t.calls.map(callsRow),
  ];
  const hold = (server: string) => {
    const h = t.calls.flatMap((c) => c.servers).find((s) => s.server === server && s.hold)?.hold;
    return h ? `${h.kbPerDialog} kB (${n(h.peakConcurrentCalls)} dialogs)` : "–";
  };
  rows.push(["memory per concurrent dialog (long hold)", hold("sipws"), hold("kamailio"), ""]);
  const over = (server: string) => {
    const o = t.overload.runs.find((r) => r.server === server);
    return o
      ? `${n(o.achievedPerSec)}/s kept (${o.keptShare} of ${n(o.capacity)}), ${n(o.shed)} ` +
        `503s, ${o.peakMemMb} MB`
      : "–";
  };
  const offered = t.overload.runs[0];
  rows.push([
    `overload: ${offered ? n(offered.rate) : "?"}/s REGISTER (2× sipws's UDP limit) for ` +
    `${t.overload.durationS} s`,
    over("sipws"),
    over("kamailio"),
    "",
  ]);
  const mem = t.soak.memory.map(([, m]) => m);
  rows.push([
    `soak: ${n(t.soak.rate)}/s REGISTER (half the limit) for ${t.soak.durationS} s`,
    `${t.soak.failed} failed, ${t.soak.shed} 503s; memory ${mem[0] ?? "?"} → max ` +
    `${mem.length ? Math.max(...mem) : "?"} → last ${mem.at(-1) ?? "?"} MB`,
    "(sipws only)",
    "",
  ]);
  const idle = t.closed.idleMemMb;
  rows.push(["idle memory", `${idle.sipws ?? "–"} MB`, `${idle.kamailio ?? "–"} MB`, ""]);
  const header = [
    "measure",
    t.sipwsWorkers === undefined
      ? "sipws (default: a worker per core)"
      : `sipws (--workers ${t.sipwsWorkers})`,
    "Kamailio 5.6 (2 UDP + 2 TCP workers)",
    "sipws / Kamailio",
  ];
  return [
    `Run of ${t.date} on ${t.machine}, load average ${t.loadavg} (\`${t.command}\`). Cells:`,
    "rate (p50 / p99), server CPU µs per operation, peak memory (sipws RSS, Kamailio PSS).",
    "",
    `| ${header.join(" | ")} |`,
    `| ${header.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}
