/**
 * @module Sending several UDP datagrams in one call: while the read loop (udp.ts) hands up a
 * batch of datagrams, what it answers (503s of the overload shedder, 401s, 200s) is copied
 * into fixed slots here and leaves in one libc `sendmmsg(2)` when the batch is done. The
 * syscall itself is cheap; what the batch saves is the receiver's wake-ups: on loopback a
 * send runs the receive side too, and a peer woken for each of 16 datagrams a few µs apart
 * (a client asleep in epoll between them) costs a wake-up each, where a burst wakes it once.
 * Linux x86-64/aarch64 (64-bit `struct mmsghdr`); where libc or FFI is missing,
 * `forDescriptor` gives undefined and every datagram is sent on its own as before.
 */
import { openLibc } from "./socket_options.ts";

const MSG_DONTWAIT = 0x40;
/** sizeof(struct mmsghdr) on 64-bit Linux: a 56-byte msghdr, msg_len, padding. */
const MMSGHDR = 64;
const IOVEC = 16;
/** sockaddr_in6 is the larger of the two. */
const NAME = 28;
/** Datagrams per call. */
const SLOTS = 32;
/** Largest datagram a slot holds; a larger one is sent on its own. */
const SLOT_BYTES = 2048;

/** What a flush could not send, for the caller to send another way. */
export type Unsent = (bytes: Uint8Array, host: string, port: number) => void;

export class UdpSendBatch {
  readonly #fd: number;
  readonly #data = new Uint8Array(new ArrayBuffer(SLOTS * SLOT_BYTES));
  readonly #names = new Uint8Array(new ArrayBuffer(SLOTS * NAME));
  /** Keeps the iovec array alive: the kernel reads it through the headers' pointers. */
  readonly #iovecs = new Uint8Array(new ArrayBuffer(SLOTS * IOVEC));
  readonly #iovecView = new DataView(this.#iovecs.buffer);
  readonly #headers = new Uint8Array(new ArrayBuffer(SLOTS * MMSGHDR));
  readonly #headerView = new DataView(this.#headers.buffer);
  /** Destinations of the queued datagrams, for those a flush could not send. */
  readonly #hosts: string[] = new Array(SLOTS);
  readonly #ports: number[] = new Array(SLOTS);
  #count = 0;

  private constructor(fd: number) {
    this.#fd = fd;
    const data = Deno.UnsafePointer.value(Deno.UnsafePointer.of(this.#data));
    const names = Deno.UnsafePointer.value(Deno.UnsafePointer.of(this.#names));
    const iovecs = Deno.UnsafePointer.value(Deno.UnsafePointer.of(this.#iovecs));
    const h = this.#headerView;
    for (let i = 0; i < SLOTS; i++) {
      this.#iovecView.setBigUint64(i * IOVEC, BigInt(data) + BigInt(i * SLOT_BYTES), true);
      const at = i * MMSGHDR;
      h.setBigUint64(at, BigInt(names) + BigInt(i * NAME), true); // msg_name
      h.setBigUint64(at + 16, BigInt(iovecs) + BigInt(i * IOVEC), true); // msg_iov
      h.setBigUint64(at + 24, 1n, true); // msg_iovlen
    }
  }

  /** For the socket `fd`; undefined where sendmmsg cannot be used. */
  static forDescriptor(fd: number): UdpSendBatch | undefined {
    if (Deno.build.os !== "linux" || !openLibc()?.sendmmsg) return undefined;
    if (Deno.build.arch !== "x86_64" && Deno.build.arch !== "aarch64") return undefined;
    return new UdpSendBatch(fd);
  }

  /** No slot left: flush before queueing more. */
  get full(): boolean {
    return this.#count === SLOTS;
  }

  /**
   * Queues `bytes` for `to` (a sockaddr, sockaddr.ts) and host:port; false when it does not
   * fit a slot (or none is free): the caller sends it another way.
   */
  queue(bytes: Uint8Array, to: Uint8Array, host: string, port: number): boolean {
    const i = this.#count;
    if (i === SLOTS || bytes.length > SLOT_BYTES) return false;
    this.#data.set(bytes, i * SLOT_BYTES);
    this.#iovecView.setUint32(i * IOVEC + 8, bytes.length, true); // iov_len (low half)
    this.#names.set(to, i * NAME);
    this.#headerView.setUint32(i * MMSGHDR + 8, to.length, true); // msg_namelen
    this.#hosts[i] = host;
    this.#ports[i] = port;
    this.#count = i + 1;
    return true;
  }

  /** Sends what is queued; hands what the socket did not take (a full buffer) to `unsent`. */
  flush(unsent: Unsent): void {
    const count = this.#count;
    if (count === 0) return;
    this.#count = 0;
    let sent = 0;
    while (sent < count) {
      const n = openLibc()!.sendmmsg(
        this.#fd,
        this.#headers.subarray(sent * MMSGHDR),
        count - sent,
        MSG_DONTWAIT,
      );
      if (n <= 0) break;
      sent += n;
    }
    for (let i = sent; i < count; i++) {
      const at = i * SLOT_BYTES;
      const length = this.#iovecView.getUint32(i * IOVEC + 8, true);
      unsent(this.#data.slice(at, at + length), this.#hosts[i], this.#ports[i]);
    }
  }
}
