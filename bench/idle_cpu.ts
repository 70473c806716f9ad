/**
 * @module What an idle server costs: sipws with `--workers=N` (2) serving UDP, TCP and WS,
 * no traffic at all, its threads' CPU (ms a second: the main and worker threads, then V8's
 * platform threads) and how often its SIP threads sleep (voluntary context
 * switches a second, each a later wake-up) over `--duration=MS` (10 s) after a
 * `--warmup=MS` (3 s). Per tree (`--root=DIR`, repeatable; default this checkout), trees
 * alternating for `--rounds=N` (3), so both meet the same background load. Not part of the
 * product. `deno run -A bench/idle_cpu.ts --root=/work/main --root=.`
 */
import { CLOCK_TICKS_PER_S, threadTicksByRole } from "./support/proc.ts";
import { loadConfig, seededStore, serveArgs } from "./support/sipws.ts";
import { BENCH_ACCOUNT } from "./support/registrars.ts";
import { spawnChild } from "../tests/support/process.ts";
import { freePorts, waitForListening } from "../tests/support/ports.ts";
import { arg, argAll } from "./support/args.ts";
import { switches } from "./workers_calls.ts";

const ROOTS = argAll("root").length ? argAll("root") : [new URL("../", import.meta.url).pathname];
const WORKERS = Number(arg("workers") ?? 2);
const DURATION_MS = Number(arg("duration") ?? 10_000);
const WARMUP_MS = Number(arg("warmup") ?? 3000);
const ROUNDS = Number(arg("rounds") ?? 3);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function idleRound(root: string): Promise<string> {
  const dir = Deno.makeTempDirSync({ prefix: "sipws-idle-" });
  const store = await seededStore(dir, [BENCH_ACCOUNT]);
  const [port, ws] = freePorts(2);
  const child = spawnChild(Deno.execPath(), {
    args: serveArgs({
      store,
      udp: port,
      tcp: port,
      ws,
      workers: WORKERS,
      config: loadConfig(dir, root),
    }),
    cwd: root,
  });
  try {
    await waitForListening(port, "tcp", 30_000);
    await sleep(WARMUP_MS);
    const pid = child.pid;
    const [t0, s0] = [threadTicksByRole(pid), switches(pid)];
    await sleep(DURATION_MS);
    const [t1, s1] = [threadTicksByRole(pid), switches(pid)];
    const perS = (n: number) => n / (DURATION_MS / 1000);
    const ms = (role: keyof typeof t0) =>
      perS(
        (t1[role].user + t1[role].system - t0[role].user - t0[role].system) * 1000 /
          CLOCK_TICKS_PER_S,
      );
    const sip = ms("main") + ms("workers");
    const wakes = perS(s1.main + s1.workers - s0.main - s0.workers);
    return `SIP threads ${sip.toFixed(1)} ms/s (main ${ms("main").toFixed(1)}, workers ` +
      `${ms("workers").toFixed(1)}), V8 platform ${ms("v8").toFixed(1)}; ` +
      `SIP threads sleep ${wakes.toFixed(0)}/s (main ${perS(s1.main - s0.main).toFixed(0)})`;
  } finally {
    await child.stop();
    Deno.removeSync(dir, { recursive: true });
  }
}

for (let round = 1; round <= ROUNDS; round++) {
  for (const root of ROOTS) console.log(`${round} ${root.padEnd(24)} ${await idleRound(root)}`);
}
