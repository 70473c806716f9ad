/**
 * @module Self-check of the overload's REGISTER generator (bench/loadgen/register_flood.c)
 * against sipp: the same REGISTER + digest load over UDP, at a rate both can offer on this
 * box (default 10,000/s), to the same fresh server, alternating sipp and register_flood for
 * several rounds (so background load hits both alike). Prints per run completed, 503s,
 * failed, unfinished, p50/p99, the server's CPU µs per registration and the generator's CPU,
 * then the medians side by side: the counts should match and the latencies be close, while
 * the generator costs a fraction of sipp's CPU. `--server=kamailio` checks against Kamailio.
 *
 *   deno run -A bench/loadgen_check.ts [--rate=10000] [--seconds=5] [--rounds=3]
 *     [--server=sipws|kamailio]
 */
import { arg } from "./support/args.ts";
import {
  type Registrar,
  startKamailioRegistrar,
  startSipwsRegistrar,
} from "./support/registrars.ts";
import { formatStep, type LoadRun, runLoad } from "./support/sipp_ladder.ts";
import { runFloodLoad } from "./support/register_flood.ts";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export interface CheckResult {
  rate: number;
  seconds: number;
  runs: LoadRun[];
}

export async function runLoadgenCheck(
  o: { rate: number; seconds: number; rounds: number; server: Registrar["name"] },
  log: (line: string) => void = console.error,
): Promise<CheckResult> {
  const server = o.server === "kamailio"
    ? await startKamailioRegistrar()
    : await startSipwsRegistrar();
  const runs: LoadRun[] = [];
  try {
    await runLoad(server, { transport: "udp", rate: o.rate / 2, durationS: 2 }); // warm-up
    for (let round = 0; round < o.rounds; round++) {
      // Which goes first alternates, so neither always follows the other's backlog.
      const order = round % 2 ? ["register_flood", "sipp"] : ["sipp", "register_flood"];
      for (const gen of order) {
        await new Promise((r) => setTimeout(r, 1000));
        const run = gen === "sipp"
          ? await runLoad(server, { transport: "udp", rate: o.rate, durationS: o.seconds })
          : await runFloodLoad(server, { rate: o.rate, durationS: o.seconds });
        runs.push(run);
        log(`${gen.padEnd(14)} ${formatStep(run)}  generator cpu ${run.clientCpuPct}%`);
      }
    }
  } finally {
    await server.stop();
  }
  return { rate: o.rate, seconds: o.seconds, runs };
}

export function formatCheck(r: CheckResult): string[] {
  return ["sipp", "register_flood"].map((gen) => {
    const rs = r.runs.filter((x) => x.generator === gen);
    const m = (f: (x: LoadRun) => number) => median(rs.map(f));
    return `${gen.padEnd(14)} ${r.rate}/s × ${r.seconds} s, median of ${rs.length}: ` +
      `completed ${m((x) => x.completed)} of ${m((x) => x.offered)}, 503 ${m((x) => x.shed)}, ` +
      `failed ${m((x) => x.failed)}, unfinished ${m((x) => x.unfinished)}, ` +
      `p50 ${m((x) => x.p50Ms)} p99 ${m((x) => x.p99Ms)} ms, ` +
      `server ${m((x) => x.cpuUsPerOp)} µs/reg, generator cpu ${m((x) => x.clientCpuPct ?? 0)}%`;
  });
}

if (import.meta.main) {
  const r = await runLoadgenCheck({
    rate: Number(arg("rate") ?? 10_000),
    seconds: Number(arg("seconds") ?? 5),
    rounds: Number(arg("rounds") ?? 3),
    server: arg("server") === "kamailio" ? "kamailio" : "sipws",
  });
  for (const line of formatCheck(r)) console.log(line);
}
