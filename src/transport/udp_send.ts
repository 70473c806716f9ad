/**
 * @module Synchronous UDP send for the main thread's own socket: one non-blocking libc
 * `sendto(2)` on its descriptor instead of `DatagramConn.send`, an async op (a promise, an op
 * dispatch and a poll per datagram). A UDP send never waits in practice, so one syscall
 * does the same work. Anything this cannot do (a host name, no FFI permission, a full
 * socket buffer) returns false and the caller falls back to Deno's send.
 */
import { openLibc, udpDescriptor } from "./socket_options.ts";
import { sockaddr } from "./sockaddr.ts";

const MSG_DONTWAIT = 0x40;

export class UdpSyscallSender {
  readonly #fd: number;
  readonly #family: "v4" | "v6";
  /** Destination addresses by host, then port (null: not an IP literal); bounded like flows. */
  #addresses = new Map<string, Map<number, Uint8Array | null>>();
  #count = 0;

  private constructor(fd: number, family: "v4" | "v6") {
    this.#fd = fd;
    this.#family = family;
  }

  /** For this process's UDP socket bound to `host`:`port`; undefined when not possible. */
  static forSocket(host: string, port: number): UdpSyscallSender | undefined {
    if (Deno.build.os !== "linux" || !openLibc()) return undefined;
    const fd = udpDescriptor(port, host);
    return fd === undefined ? undefined : UdpSyscallSender.forDescriptor(fd, host);
  }

  /** For a socket descriptor known already (a worker thread sends on the main thread's). */
  static forDescriptor(fd: number, host: string): UdpSyscallSender {
    return new UdpSyscallSender(fd, host.includes(":") ? "v6" : "v4");
  }

  /** Sends `bytes` to host:port now; false when the caller must send another way. */
  send(bytes: Uint8Array, host: string, port: number): boolean {
    const to = this.address(host, port);
    if (to === null) return false;
    // The size_t length as a BigInt: Deno's FFI takes a 64-bit integer argument on its fast
    // path only as a BigInt (a number goes the slow way: ~0.1 µs more per call).
    const length = BigInt(bytes.length);
    const sent = openLibc()!.sendto(this.#fd, bytes, length, MSG_DONTWAIT, to, to.length);
    return Number(sent) === bytes.length;
  }

  /** The sockaddr of host:port (cached), or null when host is not an IP literal. */
  address(host: string, port: number): Uint8Array | null {
    let ports = this.#addresses.get(host);
    let to = ports?.get(port);
    if (to === undefined) {
      to = sockaddr(host, port, this.#family) ?? null;
      if (++this.#count > 100_000) {
        this.#addresses.clear();
        this.#count = 1;
        ports = undefined;
      }
      if (!ports) this.#addresses.set(host, ports = new Map());
      ports.set(port, to);
    }
    return to;
  }
}
