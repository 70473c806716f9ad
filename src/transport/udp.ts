/**
 * @module SIP over UDP: one datagram socket per bound address, a read loop that hands each
 * datagram up as one message, and sends to any address from the same socket so that
 * replies leave from the port the peer knows (RFC 3261 §18.2.2, RFC 3581).
 */
import { normalizeHost } from "./address.ts";
import type { TransportSink } from "./connection.ts";
import { setUdpReceiveBuffer } from "./socket_options.ts";
import { UdpSyscallSender } from "./udp_send.ts";
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
    this.#sink = sink;
    this.#maxMessageSize = maxMessageSize;
  }

  flowTo(host: string, port: number): Flow {
    return this.#flows.flowTo(this.#sink.owner, this.local, host, port);
  }

  /** Read loop; ends when the socket closes. Never throws. */
  async run(): Promise<void> {
    // One receive buffer for the socket's life: without one, Deno allocates (and zeroes) a
    // fresh 64 KB buffer per datagram. Each datagram is then copied out at its own size,
    // because the parsed message keeps views into its bytes.
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
      const flow = this.flowTo(normalizeHost(remote.hostname), remote.port);
      if (isKeepAlive(view)) continue; // RFC 5626 §3.5.1 CRLF keep-alive on UDP: ignore
      if (view.length > this.#maxMessageSize) {
        this.#sink.dropped(flow, "Message Too Large");
        continue;
      }
      this.#sink.deliver(view.slice(), flow);
    }
  }

  /** Hands the datagram to the socket; the promise settles when it was sent. */
  /**
   * Sends now (returns true) when the syscall path can; otherwise hands the datagram to
   * the socket and returns a promise that settles when it was sent.
   */
  send(bytes: Uint8Array, host: string, port: number): true | Promise<number> {
    if (this.#syscall?.send(bytes, host, port)) return true;
    return this.#socket.send(bytes, { transport: "udp", hostname: host, port });
  }

  close(): void {
    try {
      this.#socket.close();
    } catch { /* closed already */ }
  }
}

function isKeepAlive(bytes: Uint8Array): boolean {
  return bytes.length <= 4 && bytes.every((b) => b === 13 || b === 10 || b === 0);
}
