/**
 * @module Free loopback ports and readiness probes for integration tests and benches. A
 * port is found by binding port 0 on 127.0.0.1 and closing the socket again, so there is a
 * small race with other processes; callers that need several ports at once use `freePorts`
 * so the ports are distinct. Sockets of this namespace are read from /proc/net; a server is
 * ready when it listens there or answers `/healthz`. This module only probes the loopback
 * interface and never keeps a socket open.
 */

/** The transports a port can be probed for. */
export type PortTransport = "tcp" | "udp";

const LOOPBACK = "127.0.0.1";
/** Bounded retries: another process may grab a port between two probes. */
const MAX_ATTEMPTS = 200;

function bindTcp(port: number): number | undefined {
  try {
    const listener = Deno.listen({ hostname: LOOPBACK, port, transport: "tcp" });
    const bound = (listener.addr as Deno.NetAddr).port;
    listener.close();
    return bound;
  } catch (e) {
    if (e instanceof Deno.errors.AddrInUse) return undefined;
    throw e;
  }
}

function bindUdp(port: number): number | undefined {
  try {
    const socket = Deno.listenDatagram({ hostname: LOOPBACK, port, transport: "udp" });
    const bound = (socket.addr as Deno.NetAddr).port;
    socket.close();
    return bound;
  } catch (e) {
    if (e instanceof Deno.errors.AddrInUse) return undefined;
    throw e;
  }
}

/** Return a loopback port that was free for `transport` at the time of the call. */
export function freePort(transport: PortTransport = "tcp"): number {
  const port = transport === "tcp" ? bindTcp(0) : bindUdp(0);
  if (port === undefined) throw new Error(`freePort: cannot bind ${transport} port 0`);
  return port;
}

/**
 * Return `n` distinct loopback ports, each free for both TCP and UDP at the time of the
 * call (a SIP listener usually takes the same number on both).
 */
export function freePorts(n: number): number[] {
  const ports: number[] = [];
  for (let attempt = 0; ports.length < n; attempt++) {
    if (attempt >= MAX_ATTEMPTS) {
      throw new Error(`freePorts: found only ${ports.length} of ${n} ports`);
    }
    const port = bindTcp(0);
    if (port === undefined || ports.includes(port)) continue;
    if (bindUdp(port) === undefined) continue;
    ports.push(port);
  }
  return ports;
}

/** One socket of this network namespace as /proc/net/{tcp,udp}[6] lists it. */
export interface ProcNetSocket {
  localPort: number;
  remotePort: number;
  /** Kernel state, hex: TCP 0A = LISTEN, 01 = ESTABLISHED; UDP 07 = bound. */
  state: string;
}

/** The sockets of `transport` (IPv4 and IPv6) in this network namespace, now. */
export function procNetSockets(transport: PortTransport): ProcNetSocket[] {
  // Each line: "sl local_address rem_address st ..."; an address is HEX_IP:HEX_PORT.
  const port = (address: string) => parseInt(address.split(":").pop()!, 16);
  const sockets: ProcNetSocket[] = [];
  for (const file of [`/proc/net/${transport}`, `/proc/net/${transport}6`]) {
    let text: string;
    try {
      text = Deno.readTextFileSync(file);
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4) continue;
      sockets.push({ localPort: port(cols[1]), remotePort: port(cols[2]), state: cols[3] });
    }
  }
  return sockets;
}

function listeningOn(port: number, transport: PortTransport): boolean {
  // A TCP socket counts only in LISTEN (0A); a UDP socket counts once bound (07).
  const want = transport === "tcp" ? "0A" : "07";
  return procNetSockets(transport).some((s) => s.localPort === port && s.state === want);
}

/**
 * Wait until some process in this network namespace listens on `port` (TCP LISTEN or a
 * bound UDP socket), polling /proc/net without sending any packet. Rejects after
 * `timeoutMs`. Useful for children (sipp, the server binary) that print no "ready" line.
 */
export async function waitForListening(
  port: number,
  transport: PortTransport,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!listeningOn(port, transport)) {
    if (Date.now() > deadline) {
      throw new Error(`nothing listens on ${transport} port ${port} after ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Wait until `base` (an HTTP origin) answers `GET /healthz` with 2xx; rejects after `ms`. */
export async function waitHealthy(base: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${base}/healthz`);
      await res.body?.cancel();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${base} did not answer /healthz within ${ms} ms`);
}
