/**
 * @module Is a second busy core slowing the first? The same JavaScript work run by one thread
 * alone, then by two at once (two processes, then two `Worker` threads of one process whose
 * main thread waits), then by one `Worker` alone: CPU ns per unit of work of each runner
 * (its thread's /proc/thread-self/schedstat), so time on a core slowed by its sibling (SMT,
 * a shared host core, memory bandwidth) shows as more CPU per unit, while waiting for a core
 * does not. Kernels: `cpu` (integer mixing in registers), `mem` (dependent random reads over
 * 64 MiB), `alloc` (short-lived strings and objects, as parsing does: the scavenger's work).
 * The VM has no hardware counters (perf counts only cpu-clock), hence schedstat. Run on an
 * idle box: `deno run -A bench/cpu_contention.ts [--rounds=3] [--units=N]
 * [--kernels=cpu,mem,alloc] [--nice=-15]`. Not part of the product.
 */
import { arg } from "./support/args.ts";

const KERNELS: Record<string, () => number> = {
  cpu: () => {
    let h = 0x811c9dc5;
    for (let i = 0; i < 2_000_000; i++) h = Math.imul(h ^ i, 0x01000193) >>> 0;
    return h;
  },
  mem: (() => {
    let ring: Int32Array | undefined;
    return () => {
      if (!ring) { // one random cycle through 16 Mi slots: every read depends on the last
        const n = 1 << 24;
        ring = new Int32Array(n);
        const order = Int32Array.from({ length: n }, (_, i) => i);
        for (let i = n - 1; i > 0; i--) {
          const j = (Math.random() * (i + 1)) | 0;
          [order[i], order[j]] = [order[j], order[i]];
        }
        for (let i = 0; i < n; i++) ring[order[i]] = order[(i + 1) % n];
      }
      let at = 0;
      for (let i = 0; i < 200_000; i++) at = ring[at];
      return at;
    };
  })(),
  alloc: () => {
    let n = 0;
    for (let i = 0; i < 20_000; i++) {
      const line = `Via: SIP/2.0/UDP 127.0.0.1:${5060 + (i & 1023)};branch=z9hG4bK${i}`;
      const parts = line.split(/[;:]/).map((p) => ({ text: p.trim(), at: i }));
      n += parts.length + parts[2].text.length;
    }
    return n;
  },
};

const threadNs = () => Number(Deno.readTextFileSync("/proc/thread-self/schedstat").split(" ")[0]);

/** `units` units of `kernel` after a warm-up: CPU ns and wall ns per unit. */
function run(kernel: string, units: number): { cpu: number; wall: number } {
  const k = KERNELS[kernel];
  for (let i = 0; i < Math.max(3, units / 10); i++) k();
  const c0 = threadNs(), t0 = performance.now();
  let sink = 0;
  for (let i = 0; i < units; i++) sink ^= k();
  if (sink === 0.5) console.log(sink); // never: keeps the work observable
  return { cpu: (threadNs() - c0) / units, wall: ((performance.now() - t0) * 1e6) / units };
}

type Result = { cpu: number; wall: number };

/** Busy and total jiffies of every CPU (/proc/stat), to tell how busy the box was meanwhile. */
function boxTicks(): { busy: number; all: number } {
  const f = Deno.readTextFileSync("/proc/stat").split("\n")[0].trim().split(/\s+/).slice(1)
    .map(Number);
  const all = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: all - f[3] - f[4], all };
}

/** `phase()` and the box's busy share over it, in % of one CPU (200 = both busy). */
async function busy<T>(phase: () => Promise<T>): Promise<[T, number]> {
  const a = boxTicks();
  const out = await phase();
  const b = boxTicks();
  return [out, Math.round(((b.busy - a.busy) / (b.all - a.all)) * 200)];
}

async function inProcesses(n: number, kernel: string, units: number): Promise<Result[]> {
  const children = Array.from({ length: n }, () =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", import.meta.filename!, `--runner=${kernel}`, `--units=${units}`],
      stdout: "piped",
    }).output());
  return (await Promise.all(children)).map((o) => JSON.parse(new TextDecoder().decode(o.stdout)));
}

function inWorkers(n: number, kernel: string, units: number): Promise<Result[]> {
  return Promise.all(Array.from({ length: n }, () =>
    new Promise<Result>((resolve) => {
      const w = new Worker(import.meta.url, { type: "module", name: "cpu-contention" });
      w.onmessage = (e) => (w.terminate(), resolve(e.data));
      w.postMessage({ kernel, units });
    })));
}

const self_ = globalThis as unknown as {
  name?: string;
  onmessage: unknown;
  postMessage: (m: unknown) => void;
};
if (self_.name === "cpu-contention") {
  self_.onmessage = (e: MessageEvent) => self_.postMessage(run(e.data.kernel, e.data.units));
} else if (arg("runner")) {
  console.log(JSON.stringify(run(arg("runner")!, Number(arg("units")))));
} else {
  const rounds = Number(arg("rounds") ?? 3);
  const kernels = (arg("kernels") ?? "cpu,mem,alloc").split(",");
  const units: Record<string, number> = { cpu: 1000, mem: 50, alloc: 300 };
  // `--nice=N`: this process's autogroup (its session: the runners too), so they get the cores.
  if (arg("nice")) Deno.writeTextFileSync(`/proc/${Deno.pid}/autogroup`, arg("nice")!);
  const us = (r: Result[]) => r.map((x) => (x.cpu / 1000).toFixed(1)).join(" / ");
  for (let round = 1; round <= rounds; round++) {
    for (const k of kernels) {
      const u = Number(arg("units") ?? units[k]);
      const [alone, b1] = await busy(() => inProcesses(1, k, u));
      const [twoProcs, b2] = await busy(() => inProcesses(2, k, u));
      const [twoThreads, b3] = await busy(() => inWorkers(2, k, u));
      const [oneWorker, b4] = await busy(() => inWorkers(1, k, u));
      console.log(
        `round ${round} ${k}: CPU µs/unit (box busy %) alone ${us(alone)} (${b1}), ` +
          `2 processes ${us(twoProcs)} (${b2}), 2 workers ${us(twoThreads)} (${b3}), ` +
          `1 worker ${us(oneWorker)} (${b4})`,
      );
    }
  }
}
