/**
 * @module Sending on another thread's UDP socket: a worker thread writes datagrams with libc
 * `sendto` on the descriptor of the socket the main thread bound, so replies leave from the
 * port the peer knows (RFC 3261 §18.2.2) without a hop back to the main thread. Receiving
 * stays with the main thread, which hands each datagram to the worker that owns its call.
 */
import { UdpSyscallSender } from "./udp_send.ts";
import { UdpFlows } from "./udp_flows.ts";
import type { Address, Flow, FlowOwner } from "./types.ts";

/** The UDP side of a worker: flows and sends on the main thread's socket. */
export class UdpFdSender {
  readonly local: Address;
  readonly receiveBuffer = undefined;
  #syscall: UdpSyscallSender;
  #flows = new UdpFlows();
  /** The main thread's: UDP flows are the socket's, whichever worker sends on them. */
  #owner: FlowOwner;

  constructor(fd: number, local: Address, owner: FlowOwner) {
    this.#syscall = UdpSyscallSender.forDescriptor(fd, local.host);
    this.local = local;
    this.#owner = owner;
  }

  flowTo(host: string, port: number): Flow {
    return this.#flows.flowTo(this.#owner, this.local, host, port);
  }

  /** True when sent; a worker has no other way, so a host name or a full buffer rejects. */
  send(bytes: Uint8Array, host: string, port: number): true | Promise<number> {
    return this.#syscall.send(bytes, host, port)
      ? true
      : Promise.reject(new Error(`sendto ${host}:${port} failed (IP literals only, buffer full)`));
  }

  close(): void {
    // The socket is the main thread's; it closes it.
  }
}
