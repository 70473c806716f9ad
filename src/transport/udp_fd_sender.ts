/**
 * @module Sending on another thread's UDP socket: a worker thread writes datagrams with libc
 * `sendto` on the descriptor of the socket the main thread bound, so replies leave from the
 * port the peer knows (RFC 3261 §18.2.2) without a hop back to the main thread. Receiving
 * stays with the main thread, which hands each datagram to the worker that owns its call.
 * What a worker sends while it handles what it was handed (a drain of its ring, one
 * synchronous run) leaves in one `sendmmsg` when that run ends (a microtask), as the main
 * thread's read loop batches its own sends (udp_send_batch.ts): on loopback every `sendto`
 * also runs the receiver's side and wakes it, which one burst does once.
 */
import { UdpSyscallSender } from "./udp_send.ts";
import { UdpSendBatch } from "./udp_send_batch.ts";
import { UdpFlows } from "./udp_flows.ts";
import type { Address, Flow, FlowOwner } from "./types.ts";

/** The UDP side of a worker: flows and sends on the main thread's socket. */
export class UdpFdSender {
  readonly local: Address;
  readonly receiveBuffer = undefined;
  #syscall: UdpSyscallSender;
  /** Sends queued until the current run of JavaScript ends; undefined without sendmmsg. */
  readonly #batch: UdpSendBatch | undefined;
  #flushing = false;
  readonly #flush = () => {
    this.#flushing = false;
    this.#batch!.flush(this.#unsent);
  };
  /** What sendmmsg did not take: one more try on its own, else lost as a datagram may be. */
  readonly #unsent = (bytes: Uint8Array, host: string, port: number) => {
    this.#syscall.send(bytes, host, port);
  };
  #flows = new UdpFlows();
  /** The main thread's: UDP flows are the socket's, whichever worker sends on them. */
  #owner: FlowOwner;

  constructor(fd: number, local: Address, owner: FlowOwner) {
    this.#syscall = UdpSyscallSender.forDescriptor(fd, local.host);
    this.#batch = UdpSendBatch.forDescriptor(fd);
    this.local = local;
    this.#owner = owner;
  }

  flowTo(host: string, port: number): Flow {
    return this.#flows.flowTo(this.#owner, this.local, host, port);
  }

  /** True when sent; a worker has no other way, so a host name or a full buffer rejects. */
  send(bytes: Uint8Array, host: string, port: number): true | Promise<number> {
    if (this.#queue(bytes, host, port)) return true;
    return this.#syscall.send(bytes, host, port)
      ? true
      : Promise.reject(new Error(`sendto ${host}:${port} failed (IP literals only, buffer full)`));
  }

  /** Queues a send for the end of this run; false: send it now (after those queued). */
  #queue(bytes: Uint8Array, host: string, port: number): boolean {
    const batch = this.#batch;
    if (!batch) return false;
    const to = this.#syscall.address(host, port);
    if (to === null) return false;
    if (batch.full) batch.flush(this.#unsent);
    if (!batch.queue(bytes, to, host, port)) {
      batch.flush(this.#unsent); // too large for a slot: it leaves now, after those queued
      return false;
    }
    if (!this.#flushing) {
      this.#flushing = true;
      queueMicrotask(this.#flush);
    }
    return true;
  }

  close(): void {
    // The socket is the main thread's; it closes it.
  }
}
