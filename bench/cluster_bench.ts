/**
 * @module REGISTER throughput standalone vs a 2-node cluster on one Redis, side by side in
 * one run (bench/register_load.ts as the load, UDP, digest): sipws alone on 127.0.0.2,
 * then nodes on 127.0.0.2 and 127.0.0.3 sharing a `redis-server` on a free loopback port,
 * each node taking half of the agents. Reports registrations/s, server CPU µs per
 * REGISTER (Redis's own CPU counted apart), and Redis commands per REGISTER (from
 * `INFO stats` around the measured phase: every replication write, heartbeat and lookup
 * the cluster costs). Then calls: a sipp UAS registered as bob (through node 2 when
 * clustered) and a sipp UAC calling it through node 1 (INVITE relayed node 1 → node 2 →
 * UAS, both nodes record-routing) at a fixed offered rate: calls completed per second,
 * failures, and CPU µs per call of all nodes. Run alone with
 * `deno run -A bench/cluster_bench.ts [--duration=MS] [--call-rate=N]` or as a phase of
 * `deno task bench`. Bounded in time; leaves no process behind.
 */
import { RedisAccountStore } from "../src/store/redis_account_store.ts";
import { type RegisterLoadResult, runRegisterLoad } from "./register_load.ts";
import { groupTicks } from "./support/proc.ts";
import { loadConfig, seededStore } from "./support/sipws.ts";
import { type ChildProcess, spawnChild } from "../tests/support/process.ts";
import { freePorts, waitForListening } from "../tests/support/ports.ts";
import { TestRedis } from "../tests/support/redis.ts";
import { register, TestSipClient } from "../tests/support/sip_client.ts";
import { runSipp, startSipp } from "../tests/support/sipp.ts";
import { arg } from "./support/args.ts";
import { BENCH_ACCOUNT } from "./support/register_texts.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const BOB = { user: "bob", domain: "example.test", password: "bench-bob-secret" };
const SCENARIOS = new URL("./scenarios/", import.meta.url).pathname;
const TICK_US = 10_000;

/** Calls at a fixed offered rate: what completed, and the servers' CPU per call. */
export interface CallPhase {
  offeredPerSec: number;
  callsPerSec: number;
  successful: number;
  failed: number;
  cpuUsPerCall: number;
}

export interface ClusterBenchResult {
  standalone: { registrationsPerSec: number; cpuUsPerRegister: number; failures: number };
  standaloneCalls: CallPhase;
  clusterCalls: CallPhase;
  cluster: {
    nodes: number;
    registrationsPerSec: number;
    cpuUsPerRegister: number;
    redisCpuUsPerRegister: number;
    redisCommandsPerRegister: number;
    failures: number;
  };
}

function startNode(dir: string, host: string, port: number, cluster?: string, id?: string) {
  return spawnChild(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "main.ts",
      "-f",
      "-i",
      host,
      "-u",
      String(port),
      ...(loadConfig(dir, ROOT) ? ["--config", `${dir}/sipws.toml`] : ["--skipconfig"]),
      "--store",
      `${dir}/${id ?? "alone"}.db`,
      ...(cluster ? ["--cluster-redis", cluster, "--node-id", id!] : []),
    ],
    cwd: ROOT,
  });
}

async function load(targets: { host: string; port: number }[], concurrency: number, ms: number) {
  const each = Math.max(1, Math.floor(concurrency / targets.length));
  return await Promise.all(targets.map((t) =>
    runRegisterLoad({
      ...t,
      transport: "udp",
      user: BENCH_ACCOUNT.user,
      domain: BENCH_ACCOUNT.domain,
      password: BENCH_ACCOUNT.password,
      concurrency: each,
      durationMs: ms,
    })
  ));
}

const sum = (rs: RegisterLoadResult[], f: (r: RegisterLoadResult) => number) =>
  rs.reduce((n, r) => n + f(r), 0);

async function redisCommands(redis: TestRedis): Promise<number> {
  const info = await redis.cli("INFO", "stats");
  return Number(/total_commands_processed:(\d+)/.exec(info)?.[1] ?? 0);
}

/** Measures one phase: warm-up, then `durationMs` of load with CPU and Redis counters. */
async function phase(
  nodes: ChildProcess[],
  targets: { host: string; port: number }[],
  o: { durationMs: number; warmupMs: number; concurrency: number },
  redis?: { server: TestRedis; pid: number },
) {
  await load(targets, o.concurrency, o.warmupMs);
  const ticks0 = nodes.map((n) => groupTicks(n.pid));
  const redisTicks0 = redis ? groupTicks(redis.pid) : 0;
  const commands0 = redis ? await redisCommands(redis.server) : 0;
  const results = await load(targets, o.concurrency, o.durationMs);
  const ticks = nodes.reduce((n, node, i) => n + groupTicks(node.pid) - ticks0[i], 0);
  const registrations = sum(results, (r) => r.registrations);
  const seconds = Math.max(...results.map((r) => r.elapsedMs)) / 1000;
  // Writes land after the answer: let the last batch reach Redis before counting.
  await new Promise((r) => setTimeout(r, 200));
  return {
    registrations,
    registrationsPerSec: Math.round(registrations / seconds),
    cpuUsPerRegister: Math.round((ticks * TICK_US) / Math.max(1, registrations)),
    redisCpuUsPerRegister: redis
      ? Math.round(((groupTicks(redis.pid) - redisTicks0) * TICK_US) / Math.max(1, registrations))
      : 0,
    redisCommandsPerRegister: redis
      ? Math.round((((await redisCommands(redis.server)) - commands0) / registrations) * 100) / 100
      : 0,
    failures: sum(results, (r) => r.failures),
  };
}

/**
 * bob (a sipp UAS) registers through `via`; a sipp UAC calls him through `entry` at
 * `rate` calls/s for `durationMs` (foreign caller: no challenge, as bench/call_bench.ts).
 */
async function callPhase(
  nodes: ChildProcess[],
  entry: string,
  via: string,
  port: number,
  rate: number,
  durationMs: number,
): Promise<CallPhase> {
  const [uasPort] = freePorts(1);
  const calls = Math.max(1, Math.round((rate * durationMs) / 1000));
  await using _uas = await startSipp({
    scenarioFile: `${SCENARIOS}uas_load.xml`,
    args: ["-p", String(uasPort), "-t", "u1"],
    timeoutMs: durationMs + 20_000,
  });
  await waitForListening(uasPort, "udp", 10_000);
  const client = await TestSipClient.connect("udp", port, via);
  try {
    const contact = `sip:bob@127.0.0.1:${uasPort}`;
    const ok = await register(client, { ...BOB, expires: 3600, contact });
    if (ok.status !== 200) throw new Error(`REGISTER of bob through ${via} → ${ok.status}`);
  } finally {
    client.close();
  }
  await new Promise((r) => setTimeout(r, 300)); // the binding reaches the other node
  const ticks0 = nodes.map((n) => groupTicks(n.pid));
  const started = performance.now();
  const uac = await runSipp({
    scenarioFile: `${SCENARIOS}uac_load.xml`,
    args: [`${entry}:${port}`, "-t", "u1", "-s", "bob", "-r", String(rate), "-d", "100"],
    calls,
    timeoutMs: durationMs + 15_000,
  });
  const seconds = (performance.now() - started) / 1000;
  const ticks = nodes.reduce((n, node, i) => n + groupTicks(node.pid) - ticks0[i], 0);
  const successful = uac.stats?.successfulCalls ?? 0;
  return {
    offeredPerSec: rate,
    callsPerSec: Math.round(successful / seconds),
    successful,
    failed: uac.stats?.failedCalls ?? calls - successful,
    cpuUsPerCall: Math.round((ticks * TICK_US) / Math.max(1, successful)),
  };
}

export async function runClusterBench(
  o: { durationMs: number; warmupMs: number; concurrency: number; callRate?: number },
): Promise<ClusterBenchResult> {
  const callRate = o.callRate ?? 100;
  const dir = await Deno.makeTempDir({ prefix: "sipws-cluster-bench-" });
  const [port] = freePorts(1);
  const children: ChildProcess[] = [];
  await using redis = await TestRedis.start();
  try {
    await seededStore(dir, [BENCH_ACCOUNT, BOB]);
    await Deno.rename(`${dir}/sipws.db`, `${dir}/alone.db`);
    const alone = startNode(dir, "127.0.0.2", port);
    children.push(alone);
    await waitForListening(port, "udp", 20_000);
    const standalone = await phase([alone], [{ host: "127.0.0.2", port }], o);
    const standaloneCalls = await callPhase(
      [alone],
      "127.0.0.2",
      "127.0.0.2",
      port,
      callRate,
      o.durationMs,
    );
    await alone.stop();
    children.length = 0;

    const accounts = await RedisAccountStore.open(redis.url, {});
    await accounts.putAccount(BENCH_ACCOUNT);
    await accounts.putAccount(BOB);
    accounts.close();
    const hosts = ["127.0.0.2", "127.0.0.3"];
    for (const [i, host] of hosts.entries()) {
      children.push(startNode(dir, host, port, redis.url, `n${i + 1}`));
    }
    await new Promise((r) => setTimeout(r, 500));
    await waitForListening(port, "udp", 20_000);
    const redisPid = Number(
      /process_id:(\d+)/.exec(await redis.cli("INFO", "server"))?.[1] ?? 0,
    );
    const targets = hosts.map((host) => ({ host, port }));
    const clustered = await phase(children, targets, o, { server: redis, pid: redisPid });
    const clusterCalls = await callPhase(
      children,
      hosts[0],
      hosts[1],
      port,
      callRate,
      o.durationMs,
    );
    return {
      standaloneCalls,
      clusterCalls,
      standalone: {
        registrationsPerSec: standalone.registrationsPerSec,
        cpuUsPerRegister: standalone.cpuUsPerRegister,
        failures: standalone.failures,
      },
      cluster: {
        nodes: hosts.length,
        registrationsPerSec: clustered.registrationsPerSec,
        cpuUsPerRegister: clustered.cpuUsPerRegister,
        redisCpuUsPerRegister: clustered.redisCpuUsPerRegister,
        redisCommandsPerRegister: clustered.redisCommandsPerRegister,
        failures: clustered.failures,
      },
    };
  } finally {
    for (const child of children) await child.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

export function formatClusterBench(r: ClusterBenchResult): string[] {
  const ratio = r.cluster.registrationsPerSec / Math.max(1, r.standalone.registrationsPerSec);
  return [
    "",
    "## Cluster (REGISTER over UDP, digest; one Redis on loopback)",
    "",
    "| setup | REGISTER/s | sipws CPU µs/REGISTER | Redis CPU µs/REGISTER | Redis commands/REGISTER | failures |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    `| standalone | ${r.standalone.registrationsPerSec} | ${r.standalone.cpuUsPerRegister} | - | - | ${r.standalone.failures} |`,
    `| ${r.cluster.nodes} clustered nodes | ${r.cluster.registrationsPerSec} | ${r.cluster.cpuUsPerRegister} | ${r.cluster.redisCpuUsPerRegister} | ${r.cluster.redisCommandsPerRegister} | ${r.cluster.failures} |`,
    "",
    `Cluster/standalone throughput: ${ratio.toFixed(2)} (both on the same 2 cores as the load).`,
    "",
    `Calls (sipp UAC → node 1 → node 2 → sipp UAS when clustered; offered ${r.clusterCalls.offeredPerSec}/s):`,
    "",
    "| setup | calls/s completed | failed | sipws CPU µs/call (all nodes) |",
    "| --- | ---: | ---: | ---: |",
    `| standalone | ${r.standaloneCalls.callsPerSec} | ${r.standaloneCalls.failed} | ${r.standaloneCalls.cpuUsPerCall} |`,
    `| ${r.cluster.nodes} clustered nodes | ${r.clusterCalls.callsPerSec} | ${r.clusterCalls.failed} | ${r.clusterCalls.cpuUsPerCall} |`,
  ];
}

if (import.meta.main) {
  const result = await runClusterBench({
    durationMs: Number(arg("duration") ?? 5000),
    warmupMs: Number(arg("warmup") ?? 1000),
    concurrency: Number(arg("concurrency") ?? 20),
    callRate: Number(arg("call-rate") ?? 100),
  });
  console.log(formatClusterBench(result).join("\n"));
  console.log(JSON.stringify(result));
}
