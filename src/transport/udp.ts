/**
 * @module SIP over UDP: one datagram socket per bound address, a read loop that hands each
 * datagram up as one message, and sends to any address from the same socket so that
 * replies leave from the port the peer knows (RFC 3261 §18.2.2, RFC 3581). The loop waits
 * for the socket with Deno's receive, then drains what else is queued with recvmmsg
 * (udp_batch.ts) where it can: under load most datagrams cost no async op. What is sent while
 * a batch is handed up leaves in one sendmmsg at its end (udp_send_batch.ts).
 */
import { copyToSlab } from "../sip/slab.ts";
import { normalizeHost } from "./address.ts";
import type { TransportSink } from "./connection.ts";
import { setUdpReceiveBuffer, udpDescriptor } from "./socket_options.ts";
import { UdpBatchReceiver } from "./udp_batch.ts";
import { UdpSyscallSender } from "./udp_send.ts";
import { UdpSendBatch } from "./udp_send_batch.ts";
import { UdpFlows } from "./udp_flows.ts";
import type { Address, Flow } from "./types.ts";

export class UdpTransport {
  readonly local: Address;
  #socket: Deno.DatagramConn;
  #sink: TransportSink;
  #maxMessageSize: number;
  #flows = new UdpFlows();
  /** Receive buffer the kernel reports after we asked for one; undefined: OS default. */
  readonly receiveBuffer?: number;
  /** Sends without an async op where the platform allows it (udp_send.ts). */
  readonly #syscall: UdpSyscallSender | undefined;
  /** Reads queued datagrams without an async op each, where it can (udp_batch.ts). */
  readonly #batch: UdpBatchReceiver | undefined;
  /** Sends of the batch being handed up, where sendmmsg can be used. */
  readonly #sends: UdpSendBatch | undefined;
  /** A batch is being handed up: sends are queued in #sends until it ends. */
  #handingUp = false;
  /** Sends what a flush could not, Deno's way. */
  readonly #unsent = (bytes: Uint8Array, host: string, port: number) => {
    this.#socket.send(bytes, { transport: "udp", hostname: host, port }).catch(() => {});
  };
  /** Once closed, the descriptor number may be another socket's: no more libc reads. */
  #closed = false;

  constructor(
    hostname: string,
    port: number,
    sink: TransportSink,
    maxMessageSize: number,
    receiveBufferBytes = 0,
  ) {
    this.#socket = Deno.listenDatagram({ transport: "udp", hostname, port });
    const addr = this.#socket.addr as Deno.NetAddr;
    this.local = { host: normalizeHost(addr.hostname), port: addr.port };
    // Bursts arrive faster than one event loop drains them; like Kamailio, take a larger
    // kernel buffer than the default so a GC pause does not turn into dropped datagrams.
    this.receiveBuffer = setUdpReceiveBuffer(addr.port, receiveBufferBytes, this.local.host);
    this.#syscall = UdpSyscallSender.forSocket(this.local.host, addr.port);
    const fd = this.#syscall && udpDescriptor(addr.port, this.local.host);
    this.#batch = fd === undefined ? undefined : UdpBatchReceiver.forDescriptor(fd, maxMessageSize);
    this.#sends = fd === undefined ? undefined : UdpSendBatch.forDescriptor(fd);
    this.#sink = sink;
    this.#maxMessageSize = maxMessageSize;
  }

  flowTo(host: string, port: number): Flow {
    return this.#flows.flowTo(this.#sink.owner, this.local, host, port);
  }

  /** Read loop; ends when the socket closes. Never throws. */
  async run(): Promise<void> {
    // One receive buffer for the socket's life: without one, Deno allocates (and zeroes) a
    // fresh 64 KB buffer per datagram.
    const buffer = new Uint8Array(65536);
    for (;;) {
      let datagram: [Uint8Array, Deno.Addr];
      try {
        datagram = await this.#socket.receive(buffer);
      } catch {
        return; // socket closed
      }
      const [view, addr] = datagram;
      const remote = addr as Deno.NetAddr;
      this.#handingUp = this.#sends !== undefined;
      try {
        this.#accept(view, normalizeHost(remote.hostname), remote.port);
        if (this.#batch) this.#drain(this.#batch);
      } finally {
        this.#handingUp = false;
        this.#flush();
      }
    }
  }

  /**
   * Reads and hands up what is queued, a bounded number of batches, so that timers and
   * other sockets get their turn at the next `receive`.
   */
  #drain(batch: UdpBatchReceiver): void {
    for (let round = 0; round < DRAIN_BATCHES && !this.#closed; round++) {
      const n = batch.receive();
      for (let i = 0; i < n; i++) {
        this.#accept(batch.datagram(i), batch.host(i), batch.port(i));
      }
      this.#flush();
      if (n < batch.capacity) return;
    }
  }

  /** One datagram read into a lent buffer, handed up. */
  #accept(view: Uint8Array, host: string, port: number): void {
    acceptDatagram(this.#sink, view, this.flowTo(host, port), this.#maxMessageSize);
  }

  /**
   * Sends now (returns true) when the syscall path can; otherwise hands the datagram to
   * the socket and returns a promise that settles when it was sent.
   */
  send(bytes: Uint8Array, host: string, port: number): true | Promise<number> {
    if (this.#handingUp && !this.#closed && this.#queue(bytes, host, port)) return true;
    if (!this.#closed && this.#syscall?.send(bytes, host, port)) return true;
    return this.#socket.send(bytes, { transport: "udp", hostname: host, port });
  }

  /** Queues a send of the batch being handed up; false: send it now. */
  #queue(bytes: Uint8Array, host: string, port: number): boolean {
    const sends = this.#sends!;
    const to = this.#syscall!.address(host, port);
    if (to === null) return false;
    if (sends.full) this.#flush();
    if (sends.queue(bytes, to, host, port)) return true;
    this.#flush(); // too large for a slot: it leaves now, after those queued before it
    return false;
  }

  /** Sends the queued datagrams (once closed, the descriptor may be another socket's). */
  #flush(): void {
    if (!this.#closed) this.#sends?.flush(this.#unsent);
  }

  close(): void {
    this.#closed = true;
    try {
      this.#socket.close();
    } catch { /* closed already */ }
  }
}

/** Batches read per wake-up at most (16 datagrams each). */
const DRAIN_BATCHES = 4;

/**
 * One datagram read into a lent buffer (by this loop, or by a worker thread's reader of its
 * own socket: udp_socket_reader.ts) handed up, copied out (into a shared slab, sip/slab.ts)
 * since the next read overwrites it.
 */
export function acceptDatagram(
  sink: TransportSink,
  view: Uint8Array,
  flow: Flow,
  maxMessageSize: number,
): void {
  if (isKeepAlive(view)) return; // RFC 5626 §3.5.1 CRLF keep-alive on UDP: ignore
  if (view.length > maxMessageSize) {
    sink.dropped(flow, "Message Too Large");
    return;
  }
  sink.deliver(copyToSlab(view), flow);
}

function isKeepAlive(bytes: Uint8Array): boolean {
  return bytes.length <= 4 && bytes.every((b) => b === 13 || b === 10 || b === 0);
}
