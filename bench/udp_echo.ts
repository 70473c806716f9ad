/**
 * @module The cost of sipws's UDP transport alone, without SIP: a server subprocess per
 * source tree (`--root=DIR`, repeatable; default this checkout) runs that tree's
 * `UdpTransport` with a sink that sends every datagram straight back, and this process
 * keeps `--window=N` (default 64) 400-byte datagrams in flight from `--sockets=N` (4)
 * sockets for `--duration=MS` (3000) per round, roots interleaved for `--rounds=N` (3).
 * Prints, per tree and round, echoes per second and the server's CPU time per echo (one
 * datagram read plus one sent), from /proc: the per-datagram price of the receive loop and
 * the send path that every SIP message over UDP pays on top of the SIP work. Not part of
 * the product; every phase is bounded in time.
 */
import { arg, argAll } from "./support/args.ts";
import { processTicks } from "./support/proc.ts";
import { spawnChild } from "../tests/support/process.ts";

const SIZE = 400;

/** Server mode: `--serve --root=DIR` echoes with DIR's UdpTransport until killed. */
async function serve(root: string): Promise<void> {
  const { UdpTransport } = await import(`${root}/src/transport/udp.ts`);
  const owner = { node: "bench", worker: 0 };
  // deno-lint-ignore prefer-const
  let udp: { send(b: Uint8Array, h: string, p: number): unknown; run(): Promise<void> };
  const sink = {
    owner,
    deliver(bytes: Uint8Array, flow: { remote: { host: string; port: number } }) {
      udp.send(bytes, flow.remote.host, flow.remote.port);
    },
    admit: () => true,
    opened() {},
    closed() {},
    dropped() {},
  };
  udp = new UdpTransport("127.0.0.1", 0, sink, 65535, 4 << 20);
  // Exiting on SIGINT lets `deno run --cpu-prof` write the profile.
  Deno.addSignalListener("SIGINT", () => Deno.exit(0));
  console.log(`listening ${(udp as unknown as { local: { port: number } }).local.port}`);
  await udp.run();
}

/** Keeps `window` datagrams in flight per socket; counts echoes until `ms` have passed. */
async function load(port: number, sockets: number, window: number, ms: number) {
  const payload = new Uint8Array(SIZE).fill(65);
  const end = performance.now() + ms;
  let echoes = 0;
  const conns = Array.from(
    { length: sockets },
    () => Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 }),
  );
  const to = { transport: "udp" as const, hostname: "127.0.0.1", port };
  await Promise.all(conns.map(async (conn) => {
    for (let i = 0; i < window; i++) await conn.send(payload, to);
    const buffer = new Uint8Array(2048);
    const timer = setTimeout(() => conn.close(), ms + 1000);
    try {
      while (performance.now() < end) {
        await conn.receive(buffer);
        echoes++;
        await conn.send(payload, to);
      }
    } catch {
      /* closed by the timer: datagrams were lost */
    } finally {
      clearTimeout(timer);
      try {
        conn.close();
      } catch { /* closed */ }
    }
  }));
  return echoes;
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
        args: ["run", "-A", self, "--serve", `--root=${root}`],
      });
      servers.push(child);
      const port = Number((await child.waitForLine(/listening (\d+)/, 30_000, "stdout"))[1]);
      await load(port, sockets, window, 500); // warm-up: JIT, caches
      Object.assign(child, { port });
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
