/**
 * @module One UDP socket per SIP worker thread on the SIP port (`SO_REUSEPORT`), made through
 * libc: Deno's `listenDatagram` cannot set the option, and the kernel spreads datagrams over
 * a port's sockets only when every one of them has it. The main thread's socket (Deno's) gets
 * the option after its bind, which lets the sockets bound after it join its group (Linux 6.18
 * measured: 60 datagrams from 16 source ports read 20 / 35 / 25 by three sockets).
 *
 * Which socket reads a datagram is chosen by a classic BPF program attached to the group
 * (`SO_ATTACH_REUSEPORT_CBPF`, run by the kernel on the UDP payload): a REGISTER goes to a
 * socket picked by its source port (with 3 workers or more, a worker thread's: the main thread
 * only dispatches), where it is handled (`staysWhereRead`); everything else goes to the main
 * thread's socket, which hands it to its call's worker as before. So one peer's REGISTERs,
 * retransmissions included, are always read by the same thread, and a call's messages are
 * read once and handed over at most once (spread by the 4-tuple hash instead, each thread
 * handed half of what it read to the other, and a call cost 20 % more CPU: docs/workers.md).
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
const SO_ATTACH_REUSEPORT_CBPF = 51;
/** Classic BPF's offset of the network header (SKF_NET_OFF), as an unsigned 32-bit k. */
const NET = 0xfff00000;

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
  if (fds.length === count && steer(fds[count - 1], count + 1)) return fds;
  closeSockets(fds);
  return undefined;
}

/**
 * Attaches the program that picks a socket of the group (by its index: the main thread's
 * first, then the others in the order they were bound) for each datagram of `threads`
 * threads: a REGISTER by its source port, anything else the main thread's. True once set.
 */
function steer(fd: number, threads: number): boolean {
  // With 3 threads or more the main thread only dispatches: REGISTERs go to the others.
  const [modulo, first] = threads > 2 ? [threads - 1, 1] : [threads, 0];
  // [code, jt, jf, k]: jumps skip that many instructions after the next.
  const program: [number, number, number, number][] = [
    [0x20, 0, 0, 0], // A = payload[0..4] (a shorter datagram ends the program: 0)
    [0x15, 0, 12, 0x52454749], // "REGI", else return 0
    [0x20, 0, 0, 4], // A = payload[4..8]
    [0x15, 0, 10, 0x53544552], // "STER", else return 0
    [0x30, 0, 0, NET], // A = the IP header's first byte
    [0x74, 0, 0, 4], // A >>= 4: the IP version
    [0x15, 3, 0, 6], // IPv6: its source port is 40 bytes in
    [0xb1, 0, 0, NET], // X = IPv4 header length
    [0x48, 0, 0, NET], // A = source port (at X)
    [0x05, 0, 0, 1], // skip the IPv6 load
    [0x28, 0, 0, NET + 40], // A = source port after a fixed IPv6 header
    [0x94, 0, 0, modulo], // A %= modulo
    [0x04, 0, 0, first], // A += first
    [0x16, 0, 0, 0], // return A
    [0x06, 0, 0, 0], // return 0: the main thread's socket
  ];
  const filter = new Uint8Array(new ArrayBuffer(program.length * 8));
  const view = new DataView(filter.buffer);
  program.forEach(([code, jt, jf, k], i) => {
    view.setUint16(i * 8, code, true);
    view.setUint8(i * 8 + 2, jt);
    view.setUint8(i * 8 + 3, jf);
    view.setUint32(i * 8 + 4, k >>> 0, true);
  });
  // struct sock_fprog { unsigned short len; struct sock_filter *filter; } (the kernel copies it).
  const fprog = new Uint8Array(16);
  const fv = new DataView(fprog.buffer);
  fv.setUint16(0, program.length, true);
  fv.setBigUint64(8, BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(filter))), true);
  return openLibc()!.setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, fprog, 16) === 0;
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
