/**
 * @module Does the same SIP work cost more in a `Worker` isolate than on the main thread? Runs
 * an in-process CPU-path bench (`--bench=core_path`, REGISTER + digest, or `call_path`, a
 * proxied call) in a fresh process on its main thread, then in a fresh process inside one
 * `Worker` while the main thread waits, alternating round by round (never both at once), and
 * prints the CPU µs per operation of the thread that ran it and of the whole process (V8's
 * platform threads included). Both processes get the server's V8 flags (src/cli/v8_flags.ts)
 * plus `--v8-flags=...` given here (e.g. `--trace-gc`). Arguments after `--` go to the bench.
 * Run `deno run -A bench/isolate_cost.ts [--bench=core_path|call_path] [--rounds=4]
 * [--v8-flags=F,...] [--copies=N] [-- --n=20000]` (`--copies=N`: N such processes at once,
 * to price the same work with the box's cores shared). Not part of the product.
 */
import { SERVER_V8_FLAGS } from "../src/cli/v8_flags.ts";
import { arg } from "./support/args.ts";

/** Per bench: the figure of the thread that ran it, and of the whole process. */
const FIGURES: Record<string, [string, string]> = {
  core_path: ["thread_cpu_us_per_registration", "cpu_us_per_registration"],
  call_path: ["main_thread_cpu_us_per_call", "cpu_us_per_call"],
};

const self_ = globalThis as unknown as { name?: string; postMessage: (m: unknown) => void };
const inWorker = arg("in-worker");
if (self_.name === "isolate-cost") {
  await import(inWorker!); // the bench reads Deno.args, which a Worker shares with main
  self_.postMessage("done");
} else if (inWorker) {
  const w = new Worker(import.meta.url, { type: "module", name: "isolate-cost" });
  await new Promise((resolve, reject) => {
    w.onmessage = resolve;
    w.onerror = reject;
  });
  w.terminate();
} else {
  const bench = arg("bench") ?? "core_path";
  const rounds = Number(arg("rounds") ?? 4);
  const copies = Number(arg("copies") ?? 1);
  const extra = Deno.args.includes("--") ? Deno.args.slice(Deno.args.indexOf("--") + 1) : [];
  const flags = [...SERVER_V8_FLAGS, ...(arg("v8-flags")?.split(",") ?? [])].join(",");
  const path = new URL(`./${bench}.ts`, import.meta.url).pathname;
  const [own, whole] = FIGURES[bench];
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  /** One process running the bench `where`: [thread, process] CPU µs/op, and its stdout. */
  const once = async (where: "main" | "worker"): Promise<[number, number, string]> => {
    const script = where === "main" ? [path] : [import.meta.filename!, `--in-worker=${path}`];
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `--v8-flags=${flags}`, ...script, ...extra],
      stderr: "inherit",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    if (!out.success) throw new Error(`${where}: ${text}`);
    const rows = text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
    return [mean(rows.map((r) => r[own])), mean(rows.map((r) => r[whole])), text];
  };
  const sums = { main: [0, 0], worker: [0, 0] };
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 ? ["main", "worker"] as const : ["worker", "main"] as const;
    for (const where of order) {
      // `--copies=N`: N such processes at once (N > 1: sharing the box's cores).
      const runs = await Promise.all(Array.from({ length: copies }, () => once(where)));
      const thread = mean(runs.map((r) => r[0]));
      const process = mean(runs.map((r) => r[1]));
      sums[where][0] += thread / rounds;
      sums[where][1] += process / rounds;
      const gc = (kind: string) => runs[0][2].split(kind).length - 1; // with --trace-gc
      console.log(
        `round ${round} ${where.padEnd(6)} x${copies} CPU µs/op: thread ${
          runs.map((r) => r[0].toFixed(1)).join(" / ")
        }, process ${runs.map((r) => r[1].toFixed(1)).join(" / ")}${
          runs[0][2].includes("Scavenge")
            ? `; ${gc("Scavenge")} scavenges, ${gc("Mark-Compact")} mark-compacts`
            : ""
        }`,
      );
    }
  }
  const r = (i: number) => (sums.worker[i] / sums.main[i]).toFixed(3);
  console.log(
    `mean of ${rounds} rounds: main ${sums.main.map((x) => x.toFixed(1)).join(" / ")}, worker ${
      sums.worker.map((x) => x.toFixed(1)).join(" / ")
    } (thread / process); worker/main ${r(0)} / ${r(1)}`,
  );
}
