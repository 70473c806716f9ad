/**
 * @module sipp's `-trace_stat` CSV (one row per second with `-fd 1`) as rows of counters,
 * and the call creation rate they show. Not part of the product.
 */

export interface StatRow {
  /** Seconds since the epoch of this row. */
  time: number;
  outgoing: number;
  current: number;
  successful: number;
  failed: number;
  retransmissions: number;
  responseTimeMs: number;
  /** Non-zero sipp failure causes (e.g. FailedMaxUDPRetrans), cumulative. */
  causes: Record<string, number>;
}

export function parseStatRows(csv: string): StatRow[] {
  const lines = csv.split("\n").filter((l) => l.trim() !== "");
  if (lines.length < 2) return [];
  const names = lines[0].split(";");
  const col = (name: string) => names.indexOf(name);
  const at = {
    time: col("CurrentTime"),
    outgoing: col("OutgoingCall(C)"),
    current: col("CurrentCall"),
    successful: col("SuccessfulCall(C)"),
    failed: col("FailedCall(C)"),
    retransmissions: col("Retransmissions(C)"),
    responseTime: col("ResponseTime1(C)"),
  };
  const duration = (s: string) => {
    // HH:MM:SS:microseconds
    const [h, m, sec, us] = s.split(":").map(Number);
    return ((h * 60 + m) * 60 + sec) * 1000 + (us ?? 0) / 1000;
  };
  const causeCols = names
    .map((name, i) => ({ name, i }))
    .filter((c) => /^Failed\w+\(C\)$/.test(c.name) && c.name !== "FailedCall(C)");
  return lines.slice(1).map((line) => {
    const f = line.split(";");
    const causes: Record<string, number> = {};
    for (const c of causeCols) {
      const n = Number(f[c.i]);
      if (n > 0) causes[c.name.slice(6, -3)] = n;
    }
    return {
      causes,
      time: Number(f[at.time]?.split("\t")[2]),
      outgoing: Number(f[at.outgoing]),
      current: Number(f[at.current]),
      successful: Number(f[at.successful]),
      failed: Number(f[at.failed]),
      retransmissions: Number(f[at.retransmissions]),
      responseTimeMs: duration(f[at.responseTime] ?? "0:0:0:0"),
    };
  }).filter((r) => Number.isFinite(r.time) && Number.isFinite(r.outgoing));
}

export async function readRows(path: string): Promise<StatRow[]> {
  try {
    return parseStatRows(await Deno.readTextFile(path));
  } catch {
    return [];
  }
}

/** Calls created per second until the last one was created, interpolating between rows. */
export function creationRate(rows: StatRow[], calls: number, started: number): number {
  const i = rows.findIndex((r) => r.outgoing >= calls);
  if (i < 0) {
    const last = rows.at(-1);
    return last && last.time > started ? last.outgoing / (last.time - started) : 0;
  }
  const prev = i > 0 ? rows[i - 1] : { time: started, outgoing: 0 };
  const r = rows[i];
  const span = r.outgoing - prev.outgoing;
  const t = span > 0 ? prev.time + ((calls - prev.outgoing) / span) * (r.time - prev.time) : r.time;
  return t > started ? calls / (t - started) : 0;
}
