/**
 * @module Free loopback ports for integration tests. A port is found by binding port 0 on
 * 127.0.0.1 and closing the socket again, so there is a small race with other processes;
 * callers that need several ports at once use `freePorts` so the ports are distinct. This
 * module only probes the loopback interface and never keeps a socket open.
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

function listeningOn(port: number, transport: PortTransport): boolean {
  // /proc/net/{tcp,udp}[6]: "sl local_address rem_address st ..."; local is HEX_IP:HEX_PORT.
  // A TCP socket counts only in LISTEN (0A); a UDP socket counts once bound (07).
  const want = transport === "tcp" ? "0A" : "07";
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
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
      if (cols[1].endsWith(`:${hexPort}`) && cols[3] === want) return true;
    }
  }
  return false;
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
