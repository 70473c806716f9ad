/**
 * @module One UDP socket per SIP worker thread on the SIP port (`SO_REUSEPORT`), made through
 * libc: Deno's `listenDatagram` cannot set the option, and the kernel spreads datagrams over
 * a port's sockets only when every one of them has it. The main thread's socket (Deno's) gets
 * the option after its bind, which lets the sockets bound after it join its group (Linux 6
 * measured: 60 datagrams from 16 source ports read 20 / 35 / 25 by three sockets). The
 * kernel picks a socket by the hash of the datagram's 4-tuple, so one peer's datagrams,
 * retransmissions included, are always read by the same socket, hence the same thread.
 * Linux only; anywhere a step fails, `reusePortSockets` gives undefined and the workers send
 * on the main thread's socket as before (it reads every datagram).
 */
import { intOption, openLibc } from "./socket_options.ts";
import { sockaddr } from "./sockaddr.ts";
import type { Address } from "./types.ts";

const SOL_SOCKET = 1;
const SO_REUSEPORT = 15;
const SO_RCVBUF = 8;
const SO_DOMAIN = 39;
const AF_INET6 = 10;
const IPPROTO_IPV6 = 41;
const IPV6_V6ONLY = 26;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SHUT_RDWR = 2;

type SocketLib = {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, address: Uint8Array, length: number): number;
  shutdown(fd: number, how: number): number;
  close(fd: number): number;
  /** poll(2) on Deno's blocking pool: this thread's event loop runs while it waits. */
  poll(fds: Uint8Array, count: bigint, timeoutMs: number): Promise<number>;
};

let lib: SocketLib | null | undefined;

/** socket, bind, shutdown, close and a waiting poll from libc; null where FFI cannot. */
export function socketLib(): SocketLib | null {
  if (lib !== undefined) return lib;
  try {
    lib = Deno.dlopen("libc.so.6", {
      socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
      bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
      shutdown: { parameters: ["i32", "i32"], result: "i32" },
      close: { parameters: ["i32"], result: "i32" },
      poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
    }).symbols as unknown as SocketLib;
  } catch {
    lib = null;
  }
  return lib;
}

/**
 * `count` more sockets on the address the main thread's socket `mainFd` is bound to
 * (`local`), with its family, IPv6-only setting and receive buffer, after setting
 * `SO_REUSEPORT` on it; undefined (nothing left open) when any step fails.
 */
export function reusePortSockets(
  mainFd: number,
  local: Address,
  count: number,
): number[] | undefined {
  if (Deno.build.os !== "linux") return undefined;
  const libc = openLibc();
  const sockets = socketLib();
  if (!libc || !sockets) return undefined;
  const one = int(1);
  if (libc.setsockopt(mainFd, SOL_SOCKET, SO_REUSEPORT, one, 4) !== 0) return undefined;
  const domain = intOption(mainFd, SOL_SOCKET, SO_DOMAIN);
  const address = sockaddr(local.host, local.port, domain === AF_INET6 ? "v6" : "v4");
  const v6only = domain === AF_INET6 ? intOption(mainFd, IPPROTO_IPV6, IPV6_V6ONLY) : undefined;
  // The kernel reports twice what was asked (the bookkeeping share): ask for half.
  const buffer = intOption(mainFd, SOL_SOCKET, SO_RCVBUF);
  if (domain === undefined || !address || buffer === undefined) return undefined;
  const fds: number[] = [];
  for (let i = 0; i < count; i++) {
    const fd = sockets.socket(domain, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) break;
    fds.push(fd);
    const ok = libc.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, one, 4) === 0 &&
      libc.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, int(buffer / 2), 4) === 0 &&
      (v6only === undefined ||
        libc.setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, int(v6only), 4) === 0) &&
      sockets.bind(fd, address, address.length) === 0;
    if (!ok) break;
  }
  if (fds.length === count) return fds;
  closeSockets(fds);
  return undefined;
}

/** Closes sockets `reusePortSockets` made. */
export function closeSockets(fds: number[]): void {
  for (const fd of fds) socketLib()?.close(fd);
}

/** Wakes a thread waiting in poll(2) on `fd` (it sees a hang-up) without closing it. */
export function wakePoll(fd: number): void {
  socketLib()?.shutdown(fd, SHUT_RDWR);
}

function int(value: number): Uint8Array {
  return new Uint8Array(new Int32Array([value]).buffer);
}
