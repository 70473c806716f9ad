/**
 * @module A SIP stream connection over TCP or TLS (RFC 3261 §18.3): one read loop that
 * frames by Content-Length and answers CRLF keep-alives, and a `WriteQueue` so messages never
 * interleave. A framing error closes only this connection. The read side is bounded: while
 * more than `READ_AHEAD_BYTES` of our answers wait to be written, the connection reads
 * nothing more (TCP backpressure: the peer's sends block, the backlog stays in the kernel's
 * buffers, not in our heap); reads that keep filling the buffer tell the overload watch
 * (stream_overload.ts) that this peer sends faster than we serve.
 */
import { StreamFramer } from "../sip/framer.ts";
import { normalizeHost } from "./address.ts";
import type { Connection, TransportSink } from "./connection.ts";
import { streamFlowId } from "./flow_id.ts";
import { directDescriptor } from "./stream_direct.ts";
import type { Flow } from "./types.ts";
import { READ_AHEAD_BYTES, WriteQueue } from "./write_queue.ts";
import type { StreamLoadWatch } from "./stream_overload.ts";

/**
 * Read buffer per connection: small, since thousands of idle phones each hold one (a
 * message longer than it takes more reads; the framer joins them). A connection whose read
 * fills it (a trunk, a proxy peer under load) gets a large one for fewer reads.
 */
const READ_BUFFER = 8192;
const BUSY_READ_BUFFER = 65536;
const CRLF = new Uint8Array([13, 10]);
const CRLFCRLF = new Uint8Array([13, 10, 13, 10]);

export class StreamConnection implements Connection {
  readonly flow: Flow;
  readonly openedAt = Date.now();
  messagesIn = 0;
  messagesOut = 0;
  lastActivity = Date.now();
  #conn: Deno.Conn;
  #sink: TransportSink;
  #framer: StreamFramer;
  #writer: WriteQueue;
  #closed = false;
  #load: StreamLoadWatch | undefined;

  constructor(
    conn: Deno.Conn,
    secure: boolean,
    sink: TransportSink,
    maxMessageSize: number,
    load?: StreamLoadWatch,
  ) {
    const transport = secure ? "tls" : "tcp";
    const local = conn.localAddr as Deno.NetAddr;
    const remote = conn.remoteAddr as Deno.NetAddr;
    this.flow = {
      id: streamFlowId(transport, sink.owner),
      owner: sink.owner,
      transport,
      local: { host: normalizeHost(local.hostname), port: local.port },
      remote: { host: normalizeHost(remote.hostname), port: remote.port },
      reliable: true,
      secure,
    };
    this.#conn = conn;
    this.#sink = sink;
    this.#framer = new StreamFramer(maxMessageSize);
    this.#writer = new WriteQueue(conn, () => this.close(), directDescriptor(conn, secure));
    this.#load = load;
  }

  /** Runs the read loop until the peer closes or framing breaks; never throws. */
  async run(): Promise<void> {
    this.#sink.opened(this);
    let buffer = new Uint8Array(READ_BUFFER);
    const reads = this.#load?.reads();
    try {
      for (;;) {
        if (this.#writer.queuedBytes() > READ_AHEAD_BYTES) await this.#writer.drained();
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        this.lastActivity = Date.now();
        reads?.(n === BUSY_READ_BUFFER);
        // The framer copies what it keeps, so the read buffer is lent, not copied.
        const frames = this.#framer.push(buffer.subarray(0, n));
        // This read's answers leave in one write, started when they are all queued.
        this.#writer.hold();
        try {
          for (const frame of frames) {
            if (frame.kind === "ping") this.#writer.write(CRLF);
            else if (frame.kind === "message") {
              this.messagesIn++;
              this.#sink.deliver(frame.bytes, this.flow);
            }
          }
        } finally {
          this.#writer.release();
        }
        if (n === buffer.length && n < BUSY_READ_BUFFER) buffer = new Uint8Array(BUSY_READ_BUFFER);
      }
    } catch (error) {
      if (!this.#closed) this.#sink.dropped(this.flow, errorReason(error));
    } finally {
      this.close();
    }
  }

  send(bytes: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(new Error(`flow ${this.flow.id} is closed`));
    this.messagesOut++;
    return this.#writer.write(bytes);
  }

  ping(): void {
    this.#writer.write(CRLFCRLF).catch(() => {});
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#writer.close();
    try {
      this.#conn.close();
    } catch { /* already closed by the peer */ }
    this.#sink.closed(this);
  }
}

function errorReason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
