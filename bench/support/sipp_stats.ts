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

/**
 * When the counter `count` of the rows first reached `n` (epoch seconds), interpolating
 * between the once-a-second rows; undefined when it never did.
 */
export function reachedAt(
  rows: StatRow[],
  count: (r: StatRow) => number,
  n: number,
  started: number,
): number | undefined {
  const i = rows.findIndex((r) => count(r) >= n);
  if (i < 0) return undefined;
  const [t0, c0] = i > 0 ? [rows[i - 1].time, count(rows[i - 1])] : [started, 0];
  const span = count(rows[i]) - c0;
  return span > 0 ? t0 + ((n - c0) / span) * (rows[i].time - t0) : rows[i].time;
}

/** Calls created per second until the last one was created, interpolating between rows. */
export function creationRate(rows: StatRow[], calls: number, started: number): number {
  const t = reachedAt(rows, (r) => r.outgoing, calls, started);
  if (t === undefined) {
    const last = rows.at(-1);
    return last && last.time > started ? last.outgoing / (last.time - started) : 0;
  }
  return t > started ? calls / (t - started) : 0;
}
