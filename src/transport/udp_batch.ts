/**
 * @module Reading several queued UDP datagrams in one call: one non-blocking libc
 * `recvmmsg(2)` on the socket's descriptor fills up to `capacity` slots, instead of one
 * `DatagramConn.receive` per datagram (an async op: a promise, an op dispatch and an event
 * loop turn each). The read loop (udp.ts) still waits for the socket with Deno's receive and
 * drains the rest of the queue here. Linux x86-64/aarch64 (64-bit `struct mmsghdr`); where
 * libc or FFI is missing, `forDescriptor` gives undefined and the loop reads as before.
 */
import { openLibc } from "./socket_options.ts";

const MSG_DONTWAIT = 0x40;
/** sizeof(struct mmsghdr) on 64-bit Linux: a 56-byte msghdr, msg_len, padding. */
const MMSGHDR = 64;
const IOVEC = 16;
/** sockaddr_in6 is the larger of the two. */
const NAME = 28;
const AF_INET = 2;
const AF_INET6 = 10;
/** Remote hosts as strings, by IPv4 address: a known peer costs no string building. */
const MAX_HOSTS = 100_000;

export class UdpBatchReceiver {
  /** Datagrams one call can read. */
  readonly capacity: number;
  readonly #fd: number;
  readonly #slot: number;
  readonly #data: Uint8Array;
  readonly #names: Uint8Array;
  readonly #nameView: DataView;
  readonly #headers: Uint8Array;
  readonly #headerView: DataView;
  /** Keeps the iovec array alive: the kernel reads it through the headers' pointers. */
  readonly #iovecs: Uint8Array;
  #hosts = new Map<number, string>();

  private constructor(fd: number, capacity: number, slot: number) {
    this.#fd = fd;
    this.capacity = capacity;
    this.#slot = slot;
    // ArrayBuffers, so each has a fixed off-heap backing store the pointers stay valid for.
    this.#data = new Uint8Array(new ArrayBuffer(capacity * slot));
    this.#names = new Uint8Array(new ArrayBuffer(capacity * NAME));
    this.#nameView = new DataView(this.#names.buffer);
    this.#iovecs = new Uint8Array(new ArrayBuffer(capacity * IOVEC));
    this.#headers = new Uint8Array(new ArrayBuffer(capacity * MMSGHDR));
    this.#headerView = new DataView(this.#headers.buffer);
    const data = Deno.UnsafePointer.value(Deno.UnsafePointer.of(this.#data));
    const names = Deno.UnsafePointer.value(Deno.UnsafePointer.of(this.#names));
    const iovecs = Deno.UnsafePointer.value(Deno.UnsafePointer.of(this.#iovecs));
    const iov = new DataView(this.#iovecs.buffer);
    const h = this.#headerView;
    for (let i = 0; i < capacity; i++) {
      iov.setBigUint64(i * IOVEC, BigInt(data) + BigInt(i * slot), true);
      iov.setBigUint64(i * IOVEC + 8, BigInt(slot), true);
      const at = i * MMSGHDR;
      h.setBigUint64(at, BigInt(names) + BigInt(i * NAME), true); // msg_name
      h.setBigUint64(at + 16, BigInt(iovecs) + BigInt(i * IOVEC), true); // msg_iov
      h.setBigUint64(at + 24, 1n, true); // msg_iovlen
    }
  }

  /**
   * For the socket `fd`, reading datagrams of at most `maxBytes`: a slot holds one byte
   * more, so a longer datagram, cut to the slot, still reads as too long. Undefined where
   * recvmmsg cannot be used.
   */
  static forDescriptor(fd: number, maxBytes: number, capacity = 16): UdpBatchReceiver | undefined {
    if (Deno.build.os !== "linux" || !openLibc()?.recvmmsg) return undefined;
    if (Deno.build.arch !== "x86_64" && Deno.build.arch !== "aarch64") return undefined;
    return new UdpBatchReceiver(fd, capacity, Math.min(maxBytes + 1, 65536));
  }

  /** Reads what is queued, up to `capacity` datagrams, without waiting; 0 when none is. */
  receive(): number {
    const h = this.#headerView;
    for (let i = 0; i < this.capacity; i++) h.setUint32(i * MMSGHDR + 8, NAME, true);
    const n = openLibc()!.recvmmsg(this.#fd, this.#headers, this.capacity, MSG_DONTWAIT, null);
    return n > 0 ? n : 0;
  }

  /** Datagram `i` of the last `receive`, lent (the next call overwrites it). */
  datagram(i: number): Uint8Array {
    const at = i * this.#slot;
    return this.#data.subarray(at, at + this.#headerView.getUint32(i * MMSGHDR + 56, true));
  }

  /** The sender's port of datagram `i`. */
  port(i: number): number {
    return this.#nameView.getUint16(i * NAME + 2);
  }

  /** The sender's address of datagram `i`, as `normalizeHost` writes it. */
  host(i: number): string {
    const at = i * NAME;
    const names = this.#names;
    const family = this.#nameView.getUint16(at, true);
    let v4 = at + 4;
    if (family === AF_INET6) {
      if (!isV4Mapped(names, at + 8)) return ipv6Text(names.subarray(at + 8, at + 24));
      v4 = at + 20;
    } else if (family !== AF_INET) return "";
    const key = this.#nameView.getUint32(v4);
    let host = this.#hosts.get(key);
    if (host === undefined) {
      host = `${names[v4]}.${names[v4 + 1]}.${names[v4 + 2]}.${names[v4 + 3]}`;
      if (this.#hosts.size >= MAX_HOSTS) this.#hosts.clear();
      this.#hosts.set(key, host);
    }
    return host;
  }
}

/** ::ffff:a.b.c.d, which `normalizeHost` writes as a.b.c.d. */
function isV4Mapped(b: Uint8Array, at: number): boolean {
  for (let k = 0; k < 10; k++) if (b[at + k] !== 0) return false;
  return b[at + 10] === 255 && b[at + 11] === 255;
}

/**
 * An IPv6 address as RFC 5952 §4 writes it (as Deno reports a peer): lower-case hex without
 * leading zeros, the first longest run of two or more zero groups as "::".
 */
export function ipv6Text(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let k = 0; k < 16; k += 2) groups.push((bytes[k] << 8) | bytes[k + 1]);
  let best = -1;
  let bestLength = 1;
  for (let k = 0; k < 8;) {
    if (groups[k] !== 0) {
      k++;
      continue;
    }
    let end = k;
    while (end < 8 && groups[end] === 0) end++;
    if (end - k > bestLength) {
      best = k;
      bestLength = end - k;
    }
    k = end;
  }
  const hex = (from: number, to: number) =>
    groups.slice(from, to).map((g) => g.toString(16)).join(":");
  return best < 0 ? hex(0, 8) : `${hex(0, best)}::${hex(best + bestLength, 8)}`;
}
