/**
 * @module The cheap REGISTER + digest generator (bench/loadgen/register_flood.c) for loads
 * sipp cannot offer on this box: at 60,000/s sipp took 94 % of a core and lost answers at
 * its own socket, so the overload measured sipp (docs/performance.md). The C source is
 * compiled on demand with `cc -O2` into a cache directory named by the sources' hash (a
 * changed source recompiles); without a C compiler the bench says so and stops. `runFloodLoad`
 * offers a rate to a bench registrar and reports a `LoadRun` like sipp's (bench/support/
 * sipp_ladder.ts), with the generator's own CPU. Not part of the product.
 */
import { freePorts } from "../../tests/support/ports.ts";
import { spawnChild } from "../../tests/support/process.ts";
import { udpDrops } from "./call_servers.ts";
import { BENCH_ACCOUNT, type Registrar } from "./registrars.ts";
import { type LoadRun, watchServer } from "./sipp_ladder.ts";

/** What the generator prints: one JSON line (see register_flood.c). */
export interface FloodReport {
  offered: number;
  started: number;
  completed: number;
  /** 200s received before the offered seconds were over. */
  completedInOffer: number;
  shed: number;
  shedWithRetryAfter: number;
  failed: number;
  timeouts: number;
  unfinished: number;
  retransmits: number;
  /** Answers that matched no open request (to a retransmission already answered). */
  stray: number;
  /** Requests sent: datagrams over UDP (retransmissions too), messages over TCP. */
  datagramsSent: number;
  transport: "udp" | "tcp";
  /** TCP connections the server closed or reset (what was open on them failed). */
  connectionsLost: number;
  p50Ms: number;
  p99Ms: number;
  /** Seconds from the first REGISTER to the last registration that ended. */
  lastEndS: number;
  wallS: number;
  /** The generator's CPU seconds (user + system). */
  cpuS: number;
  /** Largest delay of a new registration behind its clock slot, ms (the generator's lag). */
  maxLagMs: number;
  localPort: number;
  /** Final answers by status code. */
  statuses: Record<string, number>;
}

const builds = new Map<string, Promise<string>>();

/** The generator's binary, compiled once per source version; throws if there is no `cc`. */
export const floodBinary = (): Promise<string> => loadgenBinary("register_flood");

/**
 * The generator `name` of bench/loadgen compiled with `cc -O2` from its own files (`name`.c
 * and `name`_*.c) and the shared ones (loadgen.c, md5.c), into a directory named by the hash
 * of every source and header there, once per source version; throws if there is no `cc`.
 */
export function loadgenBinary(name: string): Promise<string> {
  let built = builds.get(name);
  if (built) return built;
  built = (async () => {
    const dir = new URL("../loadgen/", import.meta.url);
    const files = [...Deno.readDirSync(dir)].map((e) => e.name)
      .filter((f) => /\.[ch]$/.test(f)).sort();
    const ours = (f: string) =>
      f === `${name}.c` || (f.startsWith(`${name}_`) && f.endsWith(".c")) ||
      f === "loadgen.c" || f === "md5.c";
    const sources = files.filter(ours).map((f) => new URL(f, dir).pathname);
    const text = (await Promise.all(files.map((f) => Deno.readFile(new URL(f, dir)))))
      .flatMap((b) => [...b]);
    const digest = await crypto.subtle.digest("SHA-256", new Uint8Array(text));
    const hash = [...new Uint8Array(digest).slice(0, 8)]
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    const cache = `${Deno.env.get("TMPDIR") ?? "/tmp"}/sipws-loadgen-${hash}`;
    const bin = `${cache}/${name}`;
    if (await Deno.stat(bin).then(() => true, () => false)) return bin;
    await Deno.mkdir(cache, { recursive: true });
    let out: Deno.CommandOutput;
    try {
      out = await new Deno.Command("cc", {
        args: ["-O2", "-o", `${bin}.${Deno.pid}`, ...sources, "-lm"],
      }).output();
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      throw new Error(
        `no C compiler (cc) on PATH: the bench's generator (bench/loadgen/${name}.c) is ` +
          "compiled on demand; install gcc (or pass --overload-generator=sipp)",
      );
    }
    if (!out.success) {
      throw new Error(`cc failed on ${name}.c:\n${new TextDecoder().decode(out.stderr)}`);
    }
    await Deno.rename(`${bin}.${Deno.pid}`, bin);
    return bin;
  })().catch((e) => {
    builds.delete(name);
    throw e;
  });
  builds.set(name, built);
  return built;
}

export interface FloodOptions {
  /** Registrations started per second (with `concurrency`, only a bound on how many start). */
  rate: number;
  /** A closed loop instead: this many registrations open at a time. */
  concurrency?: number;
  /** Source ports (TCP: connections) the registrations are spread over (default 1). */
  sockets?: number;
  /** UDP (default) or TCP: each registration on one of `sockets` connections. */
  transport?: "udp" | "tcp";
  seconds: number;
  /** Seconds to wait after the last start for the open registrations (default 15). */
  drainS?: number;
  localPort?: number;
  account?: { user: string; password: string; domain: string };
  /** Called with the generator's pid once it runs (e.g. to set its priority). */
  started?: (pid: number) => void;
}

/**
 * Runs generator `name` with `args` until it prints its one JSON line, for at most `limitS`
 * seconds; `started` gets its pid once spawned. Throws with its stderr if it fails or overruns.
 */
export async function runLoadgen<T>(
  name: string,
  limitS: number,
  started: ((pid: number) => void) | undefined,
  args: string[],
): Promise<T> {
  const child = spawnChild(await loadgenBinary(name), { args });
  try {
    started?.(child.pid);
    const { status, timedOut } = await child.wait(limitS * 1000);
    const line = child.stdout.trim().split("\n").at(-1) ?? "";
    if (timedOut || !status.success || !line.startsWith("{")) {
      const why = timedOut ? "did not end in time" : `exited ${status.code}`;
      throw new Error(`${name} ${why}: ${child.stderr.slice(-1000)}`);
    }
    return JSON.parse(line) as T;
  } finally {
    await child.stop();
  }
}

/** Runs the generator against 127.0.0.1:`port`; bounded by seconds + drain + 10 s. */
export function runFlood(port: number, o: FloodOptions): Promise<FloodReport> {
  const account = o.account ?? BENCH_ACCOUNT;
  const drainS = o.drainS ?? 15;
  return runLoadgen<FloodReport>("register_flood", o.seconds + drainS + 10, o.started, [
    `--target=127.0.0.1:${port}`,
    `--rate=${o.rate}`,
    `--seconds=${o.seconds}`,
    `--drain=${drainS}`,
    `--user=${account.user}`,
    `--password=${account.password}`,
    `--domain=${account.domain}`,
    `--local-port=${o.localPort ?? 0}`,
    `--sockets=${o.sockets ?? 1}`,
    `--concurrency=${o.concurrency ?? 0}`,
    `--transport=${o.transport ?? "udp"}`,
  ]);
}

/** Offers `rate` REGISTER + digest/s over UDP for `durationS` to `server`, with its figures. */
export async function runFloodLoad(
  server: Registrar,
  o: { rate: number; durationS: number },
): Promise<LoadRun & { flood: FloodReport }> {
  await floodBinary(); // compiled before the server is watched
  const [localPort] = freePorts(1);
  const watch = watchServer(server);
  let clientDrops = 0;
  const dropSampler = setInterval(() => {
    clientDrops = Math.max(clientDrops, udpDrops(localPort));
  }, 500);
  let flood: FloodReport;
  try {
    flood = await runFlood(server.port, { rate: o.rate, seconds: o.durationS, localPort });
  } finally {
    clearInterval(dropSampler);
  }
  const s = watch.end();
  // As for sipp: the rate over the offered time, or until the last registration ended.
  const loadS = Math.max(o.durationS, flood.lastEndS);
  return {
    server: server.name,
    transport: "udp",
    op: "reg",
    rate: o.rate,
    offered: flood.offered,
    completed: flood.completed,
    failed: flood.failed,
    unfinished: flood.unfinished,
    shed: flood.shed,
    shedWithRetryAfter: flood.shedWithRetryAfter,
    achievedPerSec: Math.round(flood.completed / loadS),
    achievedInOfferPerSec: Math.round(flood.completedInOffer / o.durationS),
    p50Ms: flood.p50Ms,
    p99Ms: flood.p99Ms,
    cpuUsPerOp: flood.completed ? Math.round((s.cpuS * 1e6) / flood.completed) : 0,
    cpuPct: Math.round((s.cpuS / s.wallS) * 100),
    peakMemMb: s.peakMemMb,
    wallS: Math.round(s.wallS * 10) / 10,
    serverDrops: s.serverDrops,
    clientDrops,
    generator: "register_flood",
    clientCpuPct: Math.round((flood.cpuS / flood.wallS) * 100),
    serverWaitPct: s.serverWaitPct,
    flood,
  };
}
