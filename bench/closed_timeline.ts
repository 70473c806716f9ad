/**
 * @module Where the closed-loop TCP REGISTER load's time goes, from the kernel's side: runs the
 * load of bench/closed_loop.ts (20 agents over 2 connections, bench/register_load.ts) against
 * sipws (`--workers 1` unless `SIPWS_BENCH_WORKERS` says otherwise) and Kamailio, in the same
 * shape as `bench/run.ts --only=closed` (UDP warm-up and phase first, so the AOR holds as many
 * bindings when TCP starts), and during the TCP phase records `--window=MS` (300) of the
 * server's and this process's syscalls with `perf record` (tracepoints; needs root and perf).
 * Per thread it prints the share of the window spent blocked in `epoll_wait`, the wake-ups,
 * how many descriptors each wake found ready (2 = both connections at once: the agents move
 * in lockstep), reads and writes with their mean size, and the CPUs it ran on (a client and a
 * server that share one CPU take turns instead of overlapping). `--servers=sipws,kamailio`.
 * Not part of the product; every phase is bounded in time.
 */
import { runRegisterLoad } from "./register_load.ts";
import { arg } from "./support/args.ts";
import {
  BENCH_ACCOUNT,
  type Registrar,
  startKamailioRegistrar,
  startSipwsRegistrar,
} from "./support/registrars.ts";

const WINDOW_MS = Number(arg("window") ?? 300);
const SERVERS = (arg("servers") ?? "sipws,kamailio").split(",");
const EVENTS = [
  "sys_enter_epoll_wait",
  "sys_exit_epoll_wait",
  "sys_exit_recvfrom",
  "sys_exit_read",
  "sys_enter_sendto",
  "sys_enter_write",
  "sys_enter_writev",
].map((e) => `syscalls:${e}`).join(",");

interface ThreadStats {
  comm: string;
  blockedUs: number;
  wakes: number;
  polls: number;
  pollsWithTwo: number;
  reads: number;
  readBytes: number;
  writes: number;
  writeBytes: number;
  cpus: Map<string, number>;
  enteredWait?: number;
}

async function sh(script: string): Promise<string> {
  const out = await new Deno.Command("bash", { args: ["-c", script], stderr: "null" }).output();
  return new TextDecoder().decode(out.stdout);
}

/** Thread ids of `pid`'s session (a bench server is a session leader: `detached`). */
async function sessionPids(pid: number): Promise<string> {
  return (await sh(`pgrep -s ${pid} | paste -sd,`)).trim();
}

function summarize(script: string): Map<string, ThreadStats> {
  const threads = new Map<string, ThreadStats>();
  const line = /^\s*(.+?)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+syscalls:(\w+):\s*(.*)$/;
  for (const text of script.split("\n")) {
    const m = line.exec(text);
    if (!m) continue;
    const [, comm, tid, cpu, time, event, rest] = m;
    let t = threads.get(tid);
    if (!t) {
      t = {
        comm,
        blockedUs: 0,
        wakes: 0,
        polls: 0,
        pollsWithTwo: 0,
        reads: 0,
        readBytes: 0,
        writes: 0,
        writeBytes: 0,
        cpus: new Map(),
      };
      threads.set(tid, t);
    }
    t.cpus.set(cpu, (t.cpus.get(cpu) ?? 0) + 1);
    const us = Number(time) * 1e6;
    if (event === "sys_enter_epoll_wait") t.enteredWait = us;
    else if (event === "sys_exit_epoll_wait") {
      const ready = parseInt(rest, 16);
      if (t.enteredWait !== undefined) {
        const waited = us - t.enteredWait;
        t.blockedUs += waited;
        if (waited > 20 && ready > 0) t.wakes++;
      }
      t.enteredWait = undefined;
      if (ready > 0) t.polls++;
      if (ready > 1) t.pollsWithTwo++;
    } else if (event.startsWith("sys_exit_re")) {
      const n = parseInt(rest, 16);
      if (n > 0 && n < 2 ** 31) {
        t.reads++;
        t.readBytes += n;
      }
    } else {
      const len = /len: (0x[0-9a-f]+)|count: (0x[0-9a-f]+)/.exec(rest);
      t.writes++;
      if (len) t.writeBytes += parseInt(len[1] ?? len[2], 16);
    }
  }
  return threads;
}

async function trace(server: Registrar): Promise<void> {
  const base = { host: "127.0.0.1", port: server.port, ...BENCH_ACCOUNT, concurrency: 20 };
  await runRegisterLoad({ ...base, transport: "udp", durationMs: 1000 });
  await runRegisterLoad({ ...base, transport: "udp", durationMs: 5000 });
  await runRegisterLoad({ ...base, transport: "tcp", durationMs: 1000 });
  const load = runRegisterLoad({ ...base, transport: "tcp", durationMs: 3000 });
  await new Promise((r) => setTimeout(r, 1000));
  const pids = `${await sessionPids(server.child.pid)},${Deno.pid}`;
  const data = await Deno.makeTempFile({ suffix: ".perf" });
  try {
    await sh(
      `perf record -q -o ${data} -e ${EVENTS} -p ${pids} -- sleep ${WINDOW_MS / 1000}`,
    );
    const threads = summarize(await sh(`perf script -i ${data}`));
    const result = await load;
    const clientTids = new Set([...Deno.readDirSync("/proc/self/task")].map((e) => e.name));
    console.log(
      `${server.name}: ${result.registrationsPerSec} reg/s over the TCP phase, p50 ` +
        `${result.p50Ms} ms; ${WINDOW_MS} ms traced`,
    );
    for (const [tid, t] of threads) {
      if (t.reads + t.writes < 20) continue;
      const role = clientTids.has(tid) ? "client" : "server";
      const cpus = [...t.cpus].sort().map(([c, n]) => `cpu${c} ${n}`).join(" ");
      const mean = (bytes: number, n: number) => (n ? Math.round(bytes / n) : 0);
      console.log(
        `  ${role} ${t.comm} ${tid}: blocked ${Math.round(t.blockedUs / (WINDOW_MS * 10))}%, ` +
          `${t.wakes} wakes, ${t.pollsWithTwo}/${t.polls} polls found 2+ ready, ` +
          `${t.reads} reads (${mean(t.readBytes, t.reads)} B), ` +
          `${t.writes} writes (${mean(t.writeBytes, t.writes)} B); events by CPU: ${cpus}`,
      );
    }
  } finally {
    await Deno.remove(data).catch(() => {});
  }
}

if ((await sh("command -v perf")).trim() === "") {
  console.error("closed_timeline: perf is not installed");
  Deno.exit(1);
}
for (const name of SERVERS) {
  const server = name === "kamailio" ? await startKamailioRegistrar() : await startSipwsRegistrar();
  try {
    await trace(server);
  } finally {
    await server.stop();
  }
}
