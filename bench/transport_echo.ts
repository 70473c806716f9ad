/**
 * @module The cost of sipws's UDP or TCP transport alone, without SIP: a server subprocess
 * per source tree (`--root=DIR`, repeatable; default this checkout) runs that tree's
 * `UdpTransport` (`--transport=udp`, the default) or `TcpTransport` (`--transport=tcp`)
 * with a sink that sends every message straight back on its flow, and this process keeps
 * `--window=N` (default 64) 400-byte messages in flight on each of `--sockets=N` (4)
 * sockets or connections for `--duration=MS` (3000) per round, roots interleaved for
 * `--rounds=N` (3). Prints, per tree and round, echoes per second and the server's CPU time
 * per echo (one message read plus one sent), from /proc: the per-message price of the read
 * loop, framing and the send path that every SIP message pays on top of the SIP work.
 * `--idle=N` (TCP) instead opens N connections per tree that each send one message and then
 * stay open, and prints the server's RSS growth per connection. Not part of the product;
 * every phase is bounded in time.
 */
import { arg, argAll } from "./support/args.ts";
import { processTicks } from "./support/proc.ts";
import { spawnChild } from "../tests/support/process.ts";

const SIZE = 400;
const TRANSPORT = arg("transport") ?? "udp";
/** A SIP-framed message of SIZE bytes (the TCP framer needs Content-Length). */
const MESSAGE = (() => {
  const head = "OPTIONS sip:echo@127.0.0.1 SIP/2.0\r\nContent-Length: 0\r\nX-Pad: ";
  return new TextEncoder().encode(head + "x".repeat(SIZE - head.length - 4) + "\r\n\r\n");
})();

interface EchoFlow {
  id: string;
  remote: { host: string; port: number };
}

/** Server mode: `--serve --root=DIR` echoes with DIR's transport until killed. */
async function serve(root: string): Promise<void> {
  const owner = { node: "bench", worker: 0 };
  const connections = new Map<string, { send(b: Uint8Array): Promise<void> }>();
  let udp: { send(b: Uint8Array, h: string, p: number): unknown } | undefined;
  const sink = {
    owner,
    deliver(bytes: Uint8Array, flow: EchoFlow) {
      if (udp) udp.send(bytes, flow.remote.host, flow.remote.port);
      else connections.get(flow.id)?.send(bytes).catch(() => {});
    },
    admit: () => true,
    opened(c: { flow: EchoFlow; send(b: Uint8Array): Promise<void> }) {
      connections.set(c.flow.id, c);
    },
    closed(c: { flow: EchoFlow }) {
      connections.delete(c.flow.id);
    },
    dropped() {},
  };
  let transport: { local: { port: number }; run(): Promise<void> };
  if (TRANSPORT === "udp") {
    const { UdpTransport } = await import(`${root}/src/transport/udp.ts`);
    transport = udp = new UdpTransport("127.0.0.1", 0, sink, 65535, 4 << 20);
  } else {
    const { TcpTransport } = await import(`${root}/src/transport/tcp.ts`);
    transport = new TcpTransport("127.0.0.1", 0, sink, 65535);
  }
  // Exiting on SIGINT lets `deno run --cpu-prof` write the profile.
  Deno.addSignalListener("SIGINT", () => Deno.exit(0));
  console.log(`listening ${transport.local.port}`);
  await transport.run();
  await new Promise(() => {}); // TCP's accept loop is not the connections' life
}

/** Keeps `window` messages in flight per socket; counts echoes until `ms` have passed. */
function load(port: number, sockets: number, window: number, ms: number): Promise<number> {
  return TRANSPORT === "udp"
    ? loadUdp(port, sockets, window, ms)
    : loadTcp(port, sockets, window, ms);
}

async function loadUdp(port: number, sockets: number, window: number, ms: number) {
  const end = performance.now() + ms;
  let echoes = 0;
  const conns = Array.from(
    { length: sockets },
    () => Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 }),
  );
  const to = { transport: "udp" as const, hostname: "127.0.0.1", port };
  await Promise.all(conns.map(async (conn) => {
    for (let i = 0; i < window; i++) await conn.send(MESSAGE, to);
    const buffer = new Uint8Array(2048);
    // Closed by the timer: datagrams were lost.
    await closedAfter(conn, ms + 1000, async () => {
      while (performance.now() < end) {
        await conn.receive(buffer);
        echoes++;
        await conn.send(MESSAGE, to);
      }
    });
  }));
  return echoes;
}

async function loadTcp(port: number, sockets: number, window: number, ms: number) {
  const end = performance.now() + ms;
  let echoes = 0;
  const batch = (n: number) => {
    const out = new Uint8Array(n * SIZE);
    for (let i = 0; i < n; i++) out.set(MESSAGE, i * SIZE);
    return out;
  };
  await Promise.all(Array.from({ length: sockets }, async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const buffer = new Uint8Array(65536);
    let partial = 0;
    await closedAfter(conn, ms + 1000, async () => {
      await conn.write(batch(window));
      while (performance.now() < end) {
        const n = await conn.read(buffer);
        if (n === null) break;
        const whole = Math.floor((partial + n) / SIZE);
        partial = (partial + n) % SIZE;
        echoes += whole;
        if (whole > 0) await conn.write(batch(whole));
      }
    });
  }));
  return echoes;
}

/**
 * Runs `body` on `conn`, closing `conn` after `ms` if it is still running (a lost datagram
 * or a stalled read would wait forever) and when it ends; the close ends `body` quietly.
 */
async function closedAfter(
  conn: { close(): void },
  ms: number,
  body: () => Promise<void>,
): Promise<void> {
  const timer = setTimeout(() => conn.close(), ms);
  try {
    await body();
  } catch {
    /* closed by the timer */
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

/** RSS (kB) growth per connection of the server at `pid` for `count` idle connections. */
async function idleCost(pid: number, port: number, count: number): Promise<number> {
  const rssKb = () =>
    Number(/VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/status`))![1]);
  await new Promise((r) => setTimeout(r, 1000));
  const before = rssKb();
  const conns: Deno.Conn[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conns.push(conn);
      await conn.write(MESSAGE);
    }
    const echo = new Uint8Array(SIZE);
    for (const conn of conns) await conn.read(echo);
    await new Promise((r) => setTimeout(r, 1000));
    return (rssKb() - before) / count;
  } finally {
    for (const conn of conns) conn.close();
  }
}

async function main(): Promise<void> {
  const roots = argAll("root").length ? argAll("root") : [new URL("../", import.meta.url).pathname];
  const rounds = Number(arg("rounds") ?? 3);
  const duration = Number(arg("duration") ?? 3000);
  const sockets = Number(arg("sockets") ?? 4);
  const window = Number(arg("window") ?? 64);
  const self = new URL(import.meta.url).pathname;
  const servers = [];
  try {
    for (const root of roots) {
      const child = spawnChild(Deno.execPath(), {
        args: ["run", "-A", self, "--serve", `--root=${root}`, `--transport=${TRANSPORT}`],
      });
      servers.push(child);
      const port = Number((await child.waitForLine(/listening (\d+)/, 30_000, "stdout"))[1]);
      await load(port, sockets, window, 500); // warm-up: JIT, caches
      Object.assign(child, { port });
    }
    const idle = Number(arg("idle") ?? 0);
    if (idle > 0) {
      for (const [i, child] of servers.entries()) {
        const kb = await idleCost(child.pid, (child as unknown as { port: number }).port, idle);
        console.log(`${roots[i].padEnd(28)} ${kb.toFixed(1)} kB RSS per idle connection`);
      }
      return;
    }
    for (let round = 1; round <= rounds; round++) {
      for (const [i, child] of servers.entries()) {
        const port = (child as unknown as { port: number }).port;
        const t0 = processTicks(child.pid);
        const w0 = performance.now();
        const echoes = await load(port, sockets, window, duration);
        const secs = (performance.now() - w0) / 1000;
        const ticks = processTicks(child.pid) - t0;
        console.log(
          `${round} ${roots[i].padEnd(28)} ${String(Math.round(echoes / secs)).padStart(7)} ` +
            `echo/s  cpu ${Math.round(ticks / secs)}%  ${(ticks * 10_000 / echoes).toFixed(2)} ` +
            `µs/echo`,
        );
      }
    }
  } finally {
    for (const s of servers) await s.stop();
  }
}

if (import.meta.main) {
  if (Deno.args.includes("--serve")) await serve(arg("root")!);
  else await main();
}
