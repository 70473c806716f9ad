/**
 * @module A worker thread's read loop on its own UDP socket (udp_reuseport.ts): it drains
 * the socket with non-blocking `recvmmsg` (udp_batch.ts), a bounded number of batches per
 * turn, and when the queue is empty waits for it with `poll(2)` called as a `nonblocking`
 * FFI symbol (on a thread of Deno's blocking pool, so this thread's event loop, its ring and
 * timers, keeps running). The socket is this thread's alone, so no other reader is woken by
 * its datagrams. What it reads is handed up like the main thread's datagrams (`acceptDatagram`).
 */
import { setImmediate } from "node:timers";
import type { TransportSink } from "./connection.ts";
import { UdpBatchReceiver } from "./udp_batch.ts";
import { acceptDatagram } from "./udp.ts";
import { socketLib, wakePoll } from "./udp_reuseport.ts";
import type { Flow } from "./types.ts";

const POLLIN = 1;
/** Longest wait in one poll: a stop also wakes it (`wakePoll`); this bounds a missed one. */
const POLL_MS = 2000;
/** Batches read before the event loop gets a turn (timers, the ring, other sockets). */
const DRAIN_BATCHES = 4;

export class UdpSocketReader {
  readonly #fd: number;
  readonly #batch: UdpBatchReceiver;
  /** struct pollfd { int fd; short events; short revents; }, alive for the pending call. */
  readonly #pollfd = new Uint8Array(new ArrayBuffer(8));
  readonly #sink: TransportSink;
  readonly #flowTo: (host: string, port: number) => Flow;
  readonly #maxMessageSize: number;
  #closed = false;

  private constructor(
    fd: number,
    batch: UdpBatchReceiver,
    sink: TransportSink,
    flowTo: (host: string, port: number) => Flow,
    maxMessageSize: number,
  ) {
    this.#fd = fd;
    this.#batch = batch;
    const view = new DataView(this.#pollfd.buffer);
    view.setInt32(0, fd, true);
    view.setInt16(4, POLLIN, true);
    this.#sink = sink;
    this.#flowTo = flowTo;
    this.#maxMessageSize = maxMessageSize;
  }

  /** A reader of socket `fd`; undefined where recvmmsg or poll cannot be called. */
  static forDescriptor(
    fd: number,
    sink: TransportSink,
    flowTo: (host: string, port: number) => Flow,
    maxMessageSize: number,
  ): UdpSocketReader | undefined {
    const batch = UdpBatchReceiver.forDescriptor(fd, maxMessageSize);
    return batch && socketLib()
      ? new UdpSocketReader(fd, batch, sink, flowTo, maxMessageSize)
      : undefined;
  }

  /** Read loop; ends once closed. Never throws. */
  async run(): Promise<void> {
    const poll = socketLib()!.poll;
    while (!this.#closed) {
      if (this.#drain() > 0) {
        // The event loop's turn (the ring, timers), then read again: under load more has
        // come by then, and an empty read costs less than a wait in poll (a thread hop).
        await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      // Empty: wait for a datagram (or the stop's wake-up).
      const ready = await poll(this.#pollfd, 1n, POLL_MS).catch(() => -1);
      if (ready < 0 && !this.#closed) await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  /** Reads and hands up what is queued, a bounded number of batches; how many it read. */
  #drain(): number {
    const batch = this.#batch;
    let read = 0;
    for (let round = 0; round < DRAIN_BATCHES && !this.#closed; round++) {
      const n = batch.receive();
      for (let i = 0; i < n; i++) {
        const flow = this.#flowTo(batch.host(i), batch.port(i));
        acceptDatagram(this.#sink, batch.datagram(i), flow, this.#maxMessageSize);
      }
      read += n;
      if (n < batch.capacity) break;
    }
    return read;
  }

  /** Stops reading and wakes a pending poll; the socket is closed by whoever made it. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    wakePoll(this.#fd);
  }
}
