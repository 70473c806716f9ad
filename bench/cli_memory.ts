/**
 * @module What the real CLI's peak RSS is made of under the open-loop REGISTER ladder: a
 * fresh `sipws` (one worker) from `--root` (default: this tree), then what the open-loop
 * phase of bench/run.ts does with REGISTER + digest (2 s warm-up at the first rate, the
 * ladder `--rates` of `--step-s` steps, over each of `--transports`; `--warm-up-rate=R` and
 * `--warm-up-s=S` change the warm-up, e.g. a cold start far above capacity before a ladder
 * that passes, to see what the backlog it leaves does to the heap later), while
 * /proc/PID/smaps is read every 100 ms from outside (bench/support/smaps.ts). Prints each
 * step as the bench does, then one JSON line: idle and peak RSS split by kind of mapping
 * (V8 heap pages, malloc arenas, other anonymous, the binary), where the peak was, the
 * largest mappings at it, and the same split at each phase's own peak (`phases`: which
 * kind grew in a run that peaked higher than the others). `--trace-gc` starts the server with `DENO_V8_FLAGS=--trace-gc` and
 * adds its mark-compacts (heap before → after, MB) to the line; `--v8-flags=A,B` adds flags
 * the same way (DENO_V8_FLAGS, beside the tree's own). `--promoted-sites` starts the server
 * with `--inspect` and samples its heap over the ladder (V8's sampling heap profiler through
 * the inspector, one sample per 8 KiB, leaving out what a scavenge collected: what was promoted
 * or is still young at the end) and prints the bytes per registration by allocating function
 * (the sampler costs CPU: the step figures are then not the bench's). `--starve=N` runs N busy
 * loops (shell `while :`) beside the server for the whole run and `--nice=N` starts it at that
 * nice value: a CPU-starved server, whose backlog is what memory must be bounded against;
 * `--memory-mb=N` sets its `sip.overload_memory_mb` (shedding by RSS, src/server/memory_guard.ts).
 * `--snapshot-mb=N` (with `--inspect`, as `--promoted-sites`) takes one heap snapshot the first
 * time the RSS passes N MiB and prints what is live in it by constructor (self sizes), and the
 * most frequent string starts (which requests are held): what a starved server's backlog is
 * made of.
 * Run: `deno run -A --unstable-net bench/cli_memory.ts --rates=25000,30000 --trace-gc`.
 * Not part of the product.
 */
import { arg } from "./support/args.ts";
import { composition, type Mapping, mappings, rollup } from "./support/smaps.ts";
import { printSites, sitesOf } from "./support/heap_sampling.ts";

/**
 * Starts V8's sampling heap profiler in the server through its inspector (`--inspect` on
 * `port`), leaving out what a scavenge collected; the returned function stops it and gives
 * bytes by "function <- caller".
 */
async function startRemoteSampling(port: number): Promise<() => Promise<Map<string, number>>> {
  const [target] = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((ok, fail) => {
    ws.onopen = ok;
    ws.onerror = fail;
  });
  const replies = new Map<number, (result: unknown) => void>();
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.id) replies.get(m.id)?.(m.result);
  };
  let id = 0;
  // deno-lint-ignore no-explicit-any
  const post = (method: string, params = {}): Promise<any> =>
    new Promise((resolve) => {
      replies.set(++id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await post("HeapProfiler.enable");
  await post("HeapProfiler.startSampling", {
    samplingInterval: 8192,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: false,
  });
  return async () => {
    const { profile } = await post("HeapProfiler.stopSampling");
    ws.close();
    return sitesOf(profile);
  };
}

const root = arg("root") ?? new URL("..", import.meta.url).pathname;
const rates = (arg("rates") ?? "25000,30000").split(",").map(Number);
const stepS = Number(arg("step-s") ?? 6);
const warmUpRate = Number(arg("warm-up-rate") ?? rates[0]);
const warmUpS = Number(arg("warm-up-s") ?? 2);
const transports = (arg("transports") ?? "udp,tcp").split(",") as ("udp" | "tcp")[];
const v8 = [
  ...(Deno.args.includes("--trace-gc") ? ["--trace-gc"] : []),
  ...(arg("v8-flags")?.split(",") ?? []),
];
if (v8.length) Deno.env.set("DENO_V8_FLAGS", v8.join(","));
Deno.env.set("SIPWS_BENCH_WORKERS", "1");

// The tree measured provides the server and the load (its own bench support).
const { BENCH_ACCOUNT } = await import(`${root}/bench/support/registrars.ts`);
const { loadConfig, seededStore, serveArgs } = await import(`${root}/bench/support/sipws.ts`);
const { runLoad, runLadder, formatStep } = await import(`${root}/bench/support/sipp_ladder.ts`);
const { CALLEE } = await import(`${root}/bench/support/call_load.ts`);
const { groupTicks, statusKb } = await import(`${root}/bench/support/proc.ts`);
const { spawnChild } = await import(`${root}/tests/support/process.ts`);
const { freePorts, waitForListening } = await import(`${root}/tests/support/ports.ts`);
const PROMOTED = Deno.args.includes("--promoted-sites");
const SNAPSHOT_MB = Number(arg("snapshot-mb") ?? 0);
const INSPECT = PROMOTED || SNAPSHOT_MB > 0;

/**
 * One heap snapshot of the server through its inspector, summed by node type and constructor
 * (strings together): the top `n` by self size, MB and count.
 */
async function liveByConstructor(port: number, n = 25): Promise<string[]> {
  const [target] = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((ok, fail) => {
    ws.onopen = ok;
    ws.onerror = fail;
  });
  const chunks: string[] = [];
  const done = new Promise<void>((resolve) => {
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.method === "HeapProfiler.addHeapSnapshotChunk") chunks.push(m.params.chunk);
      else if (m.id === 1) resolve();
    };
  });
  ws.send(JSON.stringify({ id: 1, method: "HeapProfiler.takeHeapSnapshot", params: {} }));
  await done;
  ws.close();
  const snap = JSON.parse(chunks.join(""));
  const fields: string[] = snap.snapshot.meta.node_fields;
  const types: string[] = snap.snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = ["type", "name", "self_size"].map((f) => fields.indexOf(f));
  const sums = new Map<string, { bytes: number; count: number }>();
  const starts = new Map<string, number>();
  const nodes: number[] = snap.nodes;
  for (let i = 0; i < nodes.length; i += fields.length) {
    const type = types[nodes[i + typeAt]];
    if (type === "string" || type === "sliced string") {
      const start = `string "${String(snap.strings[nodes[i + nameAt]]).slice(0, 24)}"`;
      starts.set(start, (starts.get(start) ?? 0) + 1);
    }
    const key = type === "object" || type === "closure" || type === "native"
      ? `${type} ${snap.strings[nodes[i + nameAt]]}`
      : type;
    const sum = sums.get(key) ?? { bytes: 0, count: 0 };
    sum.bytes += nodes[i + sizeAt];
    sum.count++;
    sums.set(key, sum);
  }
  return [
    ...[...sums].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, n)
      .map(([k, v]) => `${(v.bytes / 1048576).toFixed(1)} MB ${v.count} ${k}`),
    ...[...starts].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => `${v} ${k}`),
  ];
}

const mb = (kb: number) => Math.round(kb / 102.4) / 10;
const split = (maps: Mapping[]) =>
  Object.fromEntries(
    Object.entries(composition(maps)).filter(([, v]) => v.rssKb >= 100)
      .sort((a, b) => b[1].rssKb - a[1].rssKb).map(([k, v]) => [k, mb(v.rssKb)]),
  );

// As bench/support/registrars.ts starts it, with `--inspect` when sampling.
const dir = await Deno.makeTempDir({ prefix: "sipws-cli-memory-" });
const [port, inspectPort] = freePorts(2);
const nice = arg("nice");
// `nice` execs the server: the pid read below is the server's.
const child = spawnChild(nice ? "nice" : Deno.execPath(), {
  args: [
    ...(nice ? ["-n", nice, Deno.execPath()] : []),
    ...serveArgs({
      store: await seededStore(dir, [BENCH_ACCOUNT, CALLEE]),
      config: loadConfig(
        dir,
        root,
        arg("memory-mb") ? `[sip]\noverload_memory_mb = ${arg("memory-mb")}\n` : "",
      ),
      udp: port,
      tcp: port,
      ...(INSPECT ? { denoFlags: [`--inspect=127.0.0.1:${inspectPort}`] } : {}),
    }),
  ],
  cwd: root,
});
const server = {
  name: "sipws" as const,
  child,
  port,
  dir,
  ticks: () => groupTicks(child.pid),
  memoryKb: () => statusKb(child.pid, "VmRSS"),
  stop: async () => {
    await child.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  },
};
await waitForListening(port, "udp", 20_000);
await waitForListening(port, "tcp", 20_000);
const pid: number = child.pid;
const sampling = PROMOTED ? await startRemoteSampling(inspectPort) : undefined;
const idleRoll = rollup(pid);
const idle = { rss: mb(idleRoll.Rss), ...split(mappings(pid)) };
let phase = "idle";
/** Each phase's own peak (an outlier run shows in which phase, and which kind grew). */
const peaks = new Map<string, { kb: number; maps: Mapping[] }>();
const sampler = setInterval(() => {
  try {
    const kb = rollup(pid).Rss;
    let peak = peaks.get(phase);
    if (peak === undefined) peaks.set(phase, peak = { kb: 0, maps: [] });
    if (SNAPSHOT_MB > 0 && !snapshot && kb >= SNAPSHOT_MB * 1024) {
      snapshot = liveByConstructor(inspectPort).catch((e) => [`no snapshot: ${e}`]);
    }
    if (kb <= peak.kb) return;
    // smaps of the whole process costs a few ms: read it again only past 1 MB more.
    if (kb > peak.kb + 1024 || peak.maps.length === 0) peak.maps = mappings(pid);
    peak.kb = kb;
  } catch { /* exited */ }
}, 100);
// Busy loops competing for the cores, bounded by `timeout` should this script die first.
const busy = Array.from({ length: Number(arg("starve") ?? 0) }, () =>
  new Deno.Command("timeout", {
    args: ["900", "sh", "-c", "while :; do :; done"],
    stdout: "null",
    stderr: "null",
  }).spawn());
let snapshot: Promise<string[]> | undefined;
let registered = 0;
let sites: Map<string, number> | undefined;
try {
  for (const transport of transports) {
    phase = `${transport} warm-up`;
    registered += (await runLoad(server, { transport, rate: warmUpRate, durationS: warmUpS }))
      .completed;
    phase = `${transport} ladder`;
    const ladder = await runLadder([server], { transport, rates, stepS });
    for (const step of ladder.steps) {
      console.log(formatStep(step));
      registered += step.completed;
    }
  }
  sites = await sampling?.();
  if (snapshot) console.log(`live at ${SNAPSHOT_MB} MiB:\n  ${(await snapshot).join("\n  ")}`);
} finally {
  clearInterval(sampler);
  for (const loop of busy) {
    loop.kill("SIGTERM"); // timeout passes it on to the loop
    await loop.status;
  }
  await server.stop();
}
const [peakAt, { kb: peakKb, maps: peakMaps }] = [...peaks].reduce(
  (a, b) => b[1].kb > a[1].kb ? b : a,
  [
    "",
    { kb: 0, maps: [] as Mapping[] },
  ],
);
const marks = [...server.child.stdout.matchAll(
  /(\d+) ms: (?:Incremental )?Mark-Compact ([\d.]+) \(([\d.]+)\) -> ([\d.]+)/g,
)].map((m) => `${(Number(m[1]) / 1000).toFixed(1)} s ${m[2]} (${m[3]}) → ${m[4]}`);
console.log(JSON.stringify({
  root,
  v8Flags: v8.join(","),
  idle,
  peak: { rss: mb(peakKb), at: peakAt, ...split(peakMaps) },
  phases: Object.fromEntries(
    [...peaks].map(([name, p]) => [name, { rss: mb(p.kb), ...split(p.maps) }]),
  ),
  largest: peakMaps.slice(0, 8).map((m) => `${mb(m.rssKb)} MB ${m.name} (${mb(m.sizeKb)} MB)`),
  ...(marks.length ? { markCompacts: marks } : {}),
}));
if (sites) printSites("promoted or still young", sites, registered || 1, 30);
