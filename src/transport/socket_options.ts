/**
 * @module Socket access Deno does not expose, through libc on Linux: the UDP receive buffer
 * (SO_RCVBUF), TCP_NODELAY on listening sockets (accepted connections inherit it; Deno's
 * TLS connections have no `setNoDelay`) and the descriptor itself (worker threads send on
 * it with sendto). Deno gives no descriptor, so a socket's descriptor is found by its inode
 * (/proc/net/{udp,tcp}{,6} by local port, then /proc/self/fd). Best effort: on other
 * systems, without FFI permission or when anything does not match, nothing changes.
 */

import { Logger } from "../log.ts";

const log = new Logger("transport");

const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const IPPROTO_TCP = 6;
const TCP_NODELAY = 1;
/** The `st` column of /proc/net/tcp for a listening socket. */
const TCP_LISTEN = "0A";

type Libc = {
  setsockopt(fd: number, level: number, name: number, value: Uint8Array, len: number): number;
  getsockopt(fd: number, level: number, name: number, value: Uint8Array, len: Uint8Array): number;
  sendto(
    fd: number,
    bytes: Uint8Array,
    length: number | bigint,
    flags: number,
    to: Uint8Array | null,
    toLength: number,
  ): number | bigint;
  recvmmsg(
    fd: number,
    headers: Uint8Array,
    count: number,
    flags: number,
    timeout: null,
  ): number;
  sendmmsg(fd: number, headers: Uint8Array, count: number, flags: number): number;
};

let libc: Libc | null | undefined;

export function openLibc(): Libc | null {
  if (libc !== undefined) return libc;
  try {
    const lib = Deno.dlopen("libc.so.6", {
      setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
      getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
      sendto: {
        parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"],
        result: "isize",
      },
      recvmmsg: { parameters: ["i32", "buffer", "u32", "i32", "pointer"], result: "i32" },
      sendmmsg: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
    });
    libc = lib.symbols as unknown as Libc;
  } catch {
    libc = null; // not Linux/glibc, or no --allow-ffi
  }
  return libc;
}

/**
 * The descriptor of this process's UDP socket bound to `port` (and to `host`, when it is an
 * IPv4 literal: several sockets of one process may share a port on different addresses), if
 * it can be found.
 */
export function udpDescriptor(port: number, host?: string): number | undefined {
  return descriptors("udp", port, host)[0];
}

/**
 * Descriptors of this process's sockets in /proc/net/`kind`{,6} bound to `port` (and to
 * `host` when it is an IPv4 literal), only those in state `state` when given.
 */
function descriptors(kind: "udp" | "tcp", port: number, host?: string, state?: string): number[] {
  const hexPort = ":" + port.toString(16).toUpperCase().padStart(4, "0");
  const local = host === undefined ? undefined : procIpv4(host);
  const inodes = new Set<string>();
  for (const table of [`/proc/net/${kind}`, `/proc/net/${kind}6`]) {
    let text: string;
    try {
      text = Deno.readTextFileSync(table);
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (!fields[1]?.endsWith(hexPort)) continue;
      if (state !== undefined && fields[3] !== state) continue;
      if (local !== undefined && table.endsWith(kind) && fields[1] !== local + hexPort) continue;
      inodes.add(fields[9]);
    }
  }
  const found: number[] = [];
  if (inodes.size === 0) return found;
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    try {
      const target = Deno.readLinkSync(`/proc/self/fd/${entry.name}`);
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode && inodes.has(inode)) found.push(Number(entry.name));
    } catch {
      // the descriptor closed while we looked
    }
  }
  return found;
}

/**
 * Sets TCP_NODELAY on this process's listening sockets on `port` (every worker's, under
 * SO_REUSEPORT), so that every connection accepted on them has it from the start: SIP sends
 * small messages back to back, and with Nagle's algorithm the second waits for the ACK of
 * the first, which the peer delays by up to 40 ms. Returns false when it could not.
 */
export function setListenerNoDelay(port: number, host?: string): boolean {
  if (Deno.build.os !== "linux") return false;
  const lib = openLibc();
  const fds = lib ? descriptors("tcp", port, host, TCP_LISTEN) : [];
  const one = new Uint8Array(new Int32Array([1]).buffer);
  let set = false;
  for (const fd of fds) set = lib!.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, one, 4) === 0 || set;
  return set;
}

/**
 * Asks for a receive buffer of `bytes` on the UDP socket bound to `port` (the kernel caps
 * it at net.core.rmem_max and reports twice the value). Returns the size the kernel now
 * reports, or undefined when it could not be set; says so in the log when it was capped
 * (the configured size would otherwise be a number nothing honours).
 */
export function setUdpReceiveBuffer(
  port: number,
  bytes: number,
  host?: string,
): number | undefined {
  if (Deno.build.os !== "linux" || bytes <= 0) return undefined;
  const lib = openLibc();
  const fd = lib ? udpDescriptor(port, host) : undefined;
  if (!lib || fd === undefined) return undefined;
  const value = new Int32Array([bytes]);
  if (lib.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, new Uint8Array(value.buffer), 4) !== 0) {
    return undefined;
  }
  const reported = intOption(fd, SOL_SOCKET, SO_RCVBUF);
  if (reported !== undefined && reported < 2 * bytes) {
    log.warn(
      `udp receive buffer: asked ${bytes} bytes, the kernel allows ${reported / 2} ` +
        `(net.core.rmem_max caps it; raise it with sysctl -w net.core.rmem_max=${bytes})`,
    );
  }
  return reported;
}

/** An int-valued socket option of `fd` as the kernel reports it; undefined when it cannot. */
export function intOption(fd: number, level: number, name: number): number | undefined {
  const value = new Int32Array(1);
  const length = new Uint32Array([4]);
  const ok = openLibc()?.getsockopt(
    fd,
    level,
    name,
    new Uint8Array(value.buffer),
    new Uint8Array(length.buffer),
  );
  return ok === 0 ? value[0] : undefined;
}

/** An IPv4 literal as /proc/net/udp writes it (the address in host byte order, hex). */
function procIpv4(host: string): string | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(host);
  if (!m) return undefined;
  const word = new Uint32Array(1);
  new Uint8Array(word.buffer).set([1, 2, 3, 4].map((i) => Number(m[i])));
  return word[0].toString(16).toUpperCase().padStart(8, "0");
}
