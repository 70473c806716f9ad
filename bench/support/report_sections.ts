/**
 * @module The bench/RESULTS.md sections `deno task bench --write` writes for its load phases
 * (closed loop, open loop, overload, soak, calls): how the figures were taken, when and by
 * which command, the figures as printed, and the phase's raw JSON. Not part of the product.
 */
import type { Section } from "./results_file.ts";

/** When, where and how a phase ran. */
export interface RunMeta {
  date: string;
  command: string;
  machine: string;
  /** Load average (1, 5, 15 min) before and after the phase. */
  loadBefore: string;
  loadAfter: string;
}

/** A section: heading, provenance, prose, the figures, the raw JSON folded away. */
export function section(
  heading: string,
  meta: RunMeta,
  prose: string[],
  figures: string[],
  json: unknown,
  replaces?: string[],
): Section {
  const markdown = [
    heading,
    "",
    `Measured ${meta.date} on ${meta.machine}; load average ${meta.loadBefore} before, ` +
    `${meta.loadAfter} after. Command: \`${meta.command}\`.`,
    "",
    ...prose,
    "",
    ...(figures.length ? ["```", ...figures, "```", ""] : []),
    "<details><summary>raw JSON</summary>",
    "",
    "```json",
    JSON.stringify(json, null, 1),
    "```",
    "",
    "</details>",
  ].join("\n");
  return { heading, markdown, replaces };
}

export const CLOSED_LOOP_PROSE = [
  "bench/closed_loop.ts: fresh sipws and Kamailio (bench/kamailio/kamailio.cfg.tmpl, 2 UDP +",
  "2 TCP workers, in-memory location); the load generator (bench/register_load.ts) runs N",
  "simulated agents over 2 sockets/connections, each looping REGISTER → 401 → REGISTER with MD5",
  "qop=auth → 200, a warm-up then the measured time per transport, servers interleaved. `reg/s`",
  "counts completed registrations, `tx/s` REGISTER transactions (both legs); p50/p99 are per",
  "transaction; `cpu%` the server's CPU (100 = one core; Kamailio summed over its processes),",
  "`µs/reg` its CPU time per registration; `peak mem` sipws's VmRSS or Kamailio's PSS summed",
  "over its processes, sampled every 250 ms; `client cpu%` the load generator's own CPU (the",
  "bench process; near 100 the client, not the server, bounds the loop).",
];

export const OPEN_LOOP_PROSE = [
  "bench/open_loop.ts, the issue's protocol: one fresh process per server (sipws; Kamailio from",
  "bench/kamailio/kamailio_proxy.cfg.tmpl, 2 UDP + 2 TCP workers, registrar and proxy with the",
  "dialog module), then against that same process, one after the other: REGISTER + digest over",
  "UDP, over TCP (bench/scenarios/register_digest.xml), then calls over UDP, over TCP: INVITE →",
  "407 → ACK → INVITE with Proxy-Authorization → 100/180/200 → ACK → BYE → 200 from a sipp UAC",
  "as bench@example.test (bench/scenarios/uac_auth_call.xml) to a sipp UAS bob@example.test",
  "(uas_load.xml), REGISTERed first from a short-lived sipp (`-m 1`) on the port the UAS then",
  "listens on. Each load is warmed up 2 s at its lowest rate (not judged). A step offers a fixed",
  "rate (`-r R -m stepS·R`; over TCP two sipp instances, two connections), servers alternating",
  "step by step; it passes when failed + unfinished + 503'd operations are under 0.1 %, the",
  "achieved rate is ≥ 97 % of the offered one and p99 ≤ 200 ms (calls: first INVITE → 200); a",
  "failed step is tried once more. `µs/op` is the server's CPU time over the step (its process",
  "group, from /proc) per completed operation; `mem` sipws's VmRSS or Kamailio's PSS summed over",
  "its processes, peak over the step; `drops srv/cli` datagrams the kernel dropped on the",
  "server's and on sipp's UDP sockets. `+` after a limit: the ladder's top passed.",
];

export const OVERLOAD_PROSE = [
  "bench/open_loop.ts `runOverload`: fresh sipws and Kamailio (the open-loop configuration),",
  "warmed up 2 s with sipp, then one at a time bench/loadgen/register_flood.c (compiled with",
  "`cc -O2`; `--overload-generator=sipp` for sipp) offers REGISTER + digest over UDP at twice",
  "sipws's highest passing UDP REGISTER rate (from the open-loop ladder of the same run, else",
  "`--capacity`, else a short ladder with 3 s steps) for the overload time, new registrations",
  "paced by the clock, requests retransmitted as sipp does (500 ms doubling to 4 s, 7 times),",
  "then up to 15 s for the open ones. Kept share = achieved rate / that capacity (target ≥ 0.9);",
  "`503 received` counts the registrations sipws refused before parsing",
  "(src/transport/overload.ts); `unfinished` those still open at the end; peak memory over the",
  "run; the generator's CPU (sipp needed 94 % of a core for 60,000/s and still lost answers at",
  "its own socket: docs/performance.md).",
];

export const CALL_OVERLOAD_PROSE = [
  "bench/open_loop.ts `runOverload` with the open-loop call load: fresh sipws and Kamailio, then",
  "over UDP and over TCP (two sipp instances, two connections) one server at a time, with the",
  "callee's UAS started per transport, sipp offers authenticated calls at twice sipws's highest",
  "passing UDP call rate (the open-loop call ladder of the same run, else `--call-capacity`, else",
  "a short ladder with 3 s steps) for the overload time. Kept share = completed calls/s / that",
  "capacity (target ≥ 0.9); `503 received` counts the INVITEs refused (src/transport/overload.ts",
  "over UDP, stream_overload.ts over TCP); peak memory over the run.",
];

export const SOAK_PROSE = [
  "bench/open_loop.ts `runSoak`: a fresh sipws, warmed up 2 s, then sipp offers REGISTER +",
  "digest over UDP at half its UDP capacity (as for the overload) for the soak time; memory",
  "(VmRSS) every 10 s. Target: flat after warm-up.",
];

export function callsProse(settings: {
  rates: number[];
  stepMs: number;
  stepHoldMs: number;
  holdCalls: number;
  holdRate: number;
}): string[] {
  return [
    "bench/call_bench.ts, closed loop per step: for each server a sipp UAS",
    "(bench/scenarios/uas_load.xml) registered as bob@example.test with digest, its Contact",
    "its own port (over TCP with `;transport=tcp`: the server connects to it); a sipp UAC",
    "(uac_load.xml) calls bob through the server: INVITE → 100 → 180 → 200 → ACK → hold →",
    "BYE → 200, UAC and UAS over UDP, then over TCP (fresh servers per transport). The caller",
    "is of a foreign domain (caller.test), so neither server challenges the INVITE; both",
    "record-route, look bob up in an in-memory location table, relay statefully and track the",
    "dialog (Kamailio: bench/kamailio/kamailio_proxy.cfg.tmpl, dialog module, 2 UDP + 2 TCP",
    "workers; sipws with its default workers).",
    "",
    `Rate ladder: ${settings.rates.join(", ")} calls/s offered, ${settings.stepMs} ms of calls`,
    `per step, ${settings.stepHoldMs} ms hold, servers interleaved; a step passes with every`,
    "call successful, retransmissions (UAC + UAS) ≤ 1 % of the calls and ≥ 90 % of the offered",
    "rate reached; a failed step gets a second attempt `(2)`. `cpu ms/call` is the server's CPU",
    "per call; `probe` the round trip of OPTIONS every 20 ms during the step; `mem` sipws's",
    "VmRSS or Kamailio's PSS. Long hold (UDP): " +
    `${settings.holdCalls} calls at ${settings.holdRate}/s held until all are up; memory at`,
    "the peak over the idle server, per concurrent dialog.",
  ];
}

export const CONNECTIONS_PROSE = [
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
];

export const MICRO_PROSE = [
  "In-process: the SIP parser's messages/s (bench/parser_bench.ts; `hot headers read`: parse",
  "plus the headers the hot path reads) and 100,000 INVITE server transactions created on the",
  "timer wheel (bench/transaction_bench.ts), ns per transaction and RSS growth.",
];

export const TUI_PROSE = [
  "bench/tui_bench.ts: REGISTER with digest over UDP against sipws with the terminal dashboard",
  "(`--tui`) on and off, rounds interleaved; medians. Target: ratio on/off ≥ 0.9.",
];
