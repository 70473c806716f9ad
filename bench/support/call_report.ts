/**
 * @module The call bench's report: one table row per rate step and per server, the highest
 * passing rate, the sipws/Kamailio ratio and the long-hold lines. Not part of the product.
 */
import type { CallBenchResult, ServerCallResult } from "../call_bench.ts";

/** CPU µs per call at the highest passing rate ("-" when none passed). */
export function cpuUsAtMax(s: ServerCallResult): number | string {
  const step = s.steps.findLast((st) => st.passed && st.rate === s.maxCps);
  return step ? Math.round(step.cpuMsPerCall * 1000) : "-";
}

/** Text table of a result, for `deno task bench` and a standalone run. */
export function formatCallBench(r: CallBenchResult): string[] {
  const pad = (s: string | number, n: number) => String(s).padStart(n);
  const header =
    "server    offered/s  calls     ok  fail   retx  achieved/s  inv→200  cpu%  cpu ms/call  " +
    "probe p99/max ms  drops srv/cli  mem MB";
  const lines = [
    `calls over ${r.settings.transport.toUpperCase()}`,
    header,
    "-".repeat(header.length),
  ];
  for (const s of r.servers) {
    if (s.error) {
      lines.push(`${s.server.padEnd(9)} error: ${s.error.split("\n")[0]}`);
      continue;
    }
    for (const st of s.steps) {
      lines.push(
        `${s.server.padEnd(9)} ${pad(`${st.attempt === 2 ? "(2) " : ""}${st.rate}`, 9)} ${
          pad(st.calls, 6)
        } ${pad(st.successful, 6)} ` +
          `${pad(st.failed, 5)} ${pad(st.retransmissions, 6)} ${pad(st.achievedCps, 11)} ` +
          `${pad(st.inviteTo200Ms, 8)} ${pad(st.serverCpuPct, 5)} ${pad(st.cpuMsPerCall, 12)} ` +
          `${pad(`${st.probe.p99Ms}/${st.probe.maxMs}`, 17)} ` +
          `${pad(`${st.serverUdpDrops}/${st.clientUdpDrops}`, 14)} ${pad(st.serverRssMb, 7)}` +
          (st.passed ? "" : `  FAIL: ${st.reason}`),
      );
    }
  }
  for (const s of r.servers) {
    if (s.error) continue;
    lines.push(
      `${s.server} ${r.settings.transport}: highest passing rate ${s.maxCps} calls/s ` +
        `(achieved ${s.maxAchievedCps}/s, ${cpuUsAtMax(s)} µs CPU/call)` +
        (s.udpRcvBufBytes !== undefined ? `, UDP receive buffer ${s.udpRcvBufBytes} B` : "") +
        (s.ladderCapped ? " — every step passed: the ladder's top, not the server's limit" : ""),
    );
  }
  if (r.ratioSipwsOverKamailio !== undefined) {
    lines.push(
      `ratio sipws/kamailio calls/s ${r.settings.transport}: ${r.ratioSipwsOverKamailio}`,
    );
  }
  if (r.kamailioSkipped) lines.push(`kamailio: skipped (${r.kamailioSkipped})`);
  for (const s of r.servers) {
    const h = s.hold;
    if (!h) continue;
    lines.push(
      `${s.server} hold: ${h.calls} calls at ${h.rate}/s held ${h.holdMs} ms → peak ` +
        `${h.peakConcurrentCalls} concurrent` +
        (h.serverDialogsAtPeak !== undefined ? ` (server gauge ${h.serverDialogsAtPeak})` : "") +
        `, ${h.successful} ok, ${h.failed} failed, ${h.retransmissions} retx; mem idle ` +
        `${s.idleRssMb} MB, at peak ${h.rssAtPeakMb} MB (${h.kbPerDialog} kB/dialog), after ` +
        `${h.rssAfterMb} MB` +
        (h.serverDialogsAfter !== undefined ? `, gauge after ${h.serverDialogsAfter}` : ""),
    );
  }
  return lines;
}
