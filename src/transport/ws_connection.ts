/**
 * @module One WebSocket connection, server side (frames from a browser, masked) or client
 * side (WS client mode: we mask, the server does not): the write queue, ping/pong and close
 * handshake, byte and message counts, how it ended, and what the peer's frames mean for the
 * transport sink. Handshakes live in ws.ts (server) and ws_client.ts (client).
 */
import type { CloseInfo, CloseInitiator, Connection, TransportSink } from "./connection.ts";
import type { Flow } from "./types.ts";
import { directDescriptor } from "./stream_direct.ts";
import {
  CLOSE,
  encodeClose,
  encodeFrame,
  frameHead,
  OPCODE,
  type WsFrameDecoder,
} from "./ws_frames.ts";
import { READ_AHEAD_BYTES, WriteQueue } from "./write_queue.ts";

const encoder = new TextEncoder();
const CRLF = encoder.encode("\r\n");
const CRLFCRLF = encoder.encode("\r\n\r\n");

/** Read buffer per connection: small, since thousands of idle clients each hold one. */
const READ_BUFFER = 8192;

export class WsConnection implements Connection {
  readonly flow: Flow;
  readonly openedAt = Date.now();
  readonly origin?: string;
  messagesIn = 0;
  messagesOut = 0;
  /** Bytes read from and written to the socket (frames included). */
  bytesIn = 0;
  bytesOut = 0;
  lastActivity = Date.now();
  /** How it ended; set before the transport hears of the close. */
  closeInfo?: CloseInfo;
  /** Anything from the peer, pongs included: what the keep-alive policy looks at. */
  lastHeard = Date.now();
  /** A ping went out since `lastHeard`. */
  pinged = false;
  #conn: Deno.Conn;
  #writer: WriteQueue;
  #onClosed: (c: WsConnection) => void;
  #closing = false;
  #masked: boolean;
  #closed = false;

  constructor(
    conn: Deno.Conn,
    flow: Flow,
    origin: string | undefined,
    onClosed: (c: WsConnection) => void,
    /** WS client mode: our frames are masked (RFC 6455 §5.1). */
    masked = false,
  ) {
    this.#masked = masked;
    this.#conn = conn;
    this.flow = flow;
    this.origin = origin;
    this.#onClosed = onClosed;
    // A plain WS connection we accepted is written directly, as plain TCP is (stream_direct.ts).
    this.#writer = new WriteQueue(conn, () => this.#shut(), directDescriptor(conn, flow.secure));
  }

  send(bytes: Uint8Array): Promise<void> {
    if (this.#closing) return Promise.reject(new Error(`flow ${this.flow.id} is closed`));
    this.messagesOut++;
    // Browsers' SIP stacks expect text frames.
    if (this.#masked) return this.#write(encodeFrame(OPCODE.text, bytes, true));
    // The header and the payload go into the queue as they are: no frame copy in between.
    const head = frameHead(OPCODE.text, bytes.length);
    this.bytesOut += head.length + bytes.length;
    return this.#writer.write(bytes, head);
  }

  /** Bytes accepted for sending and not yet written. */
  queued(): number {
    return this.#writer.queuedBytes();
  }

  #write(frame: Uint8Array): Promise<void> {
    this.bytesOut += frame.length;
    return this.#writer.write(frame);
  }

  /** CRLFCRLF keep-alive in a text frame (RFC 7118 §6 leaves keep-alive to the endpoints). */
  ping(): void {
    this.frame(OPCODE.text, CRLFCRLF);
  }

  /** A WebSocket ping frame; the peer's pong counts as heard. */
  probe(): void {
    this.pinged = true;
    this.frame(OPCODE.ping, new Uint8Array(0));
  }

  frame(opcode: number, payload: Uint8Array): void {
    if (!this.#closing) this.#write(encodeFrame(opcode, payload, this.#masked)).catch(() => {});
  }

  /** Sends a close frame with `code` and `reason`, then closes TCP (RFC 6455 §7.1.1). */
  close(code: number = CLOSE.normal, reason = "closed by server", by: CloseInitiator = "server") {
    if (this.#closing) return;
    this.#closing = true;
    this.closeInfo ??= { code, reason, by };
    // The close frame is the last write; once its batch is written (or failed), everything
    // before it is too. Not `drained()`: while the read loop holds the queue, the frame's
    // write has not started yet.
    const shut = () => this.#shut();
    this.#write(encodeClose(code, reason, this.#masked)).then(shut, shut);
  }

  /** Milliseconds the write in flight has waited on the peer. */
  stalledFor(now: number): number {
    return this.#writer.stalledFor(now);
  }

  /**
   * Ends the connection at once, without the close handshake: for a peer that reads
   * nothing, whose close frame would only wait behind the stalled write.
   */
  abort(reason: string): void {
    this.closeInfo ??= { code: 1006, reason, by: "server" };
    this.#shut();
  }

  #shut(): void {
    this.#closing = true;
    if (this.#closed) return;
    this.#closed = true;
    // No close frame either way: the connection was lost (RFC 6455 §7.1.5 code 1006).
    this.closeInfo ??= { code: 1006, reason: "", by: "client" };
    // Before the close: the descriptor's number may be another socket's from then on.
    this.#writer.close();
    try {
      this.#conn.close();
    } catch { /* closed by the peer */ }
    this.#onClosed(this);
  }

  /** Read loop over frames after the handshake; never throws. */
  async run(
    rest: Uint8Array,
    decoder: WsFrameDecoder,
    onEvents: FrameHandler,
    /** Told after each read whether it filled the buffer (stream_overload.ts). */
    reads?: (full: boolean) => void,
  ): Promise<void> {
    const buffer = new Uint8Array(READ_BUFFER);
    try {
      let chunk: Uint8Array | undefined = rest;
      while (!this.#closing) {
        if (chunk.length > 0) {
          this.bytesIn += chunk.length;
          this.lastHeard = Date.now();
          this.pinged = false;
          // This read's answers leave in one write, started when they are all queued.
          this.#writer.hold();
          try {
            onEvents(this, decoder.push(chunk));
          } finally {
            this.#writer.release();
          }
        }
        // A peer that does not read our answers gets no more read from it (backpressure).
        if (this.#writer.queuedBytes() > READ_AHEAD_BYTES) await this.#writer.drained();
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        reads?.(n === READ_BUFFER);
        chunk = buffer.subarray(0, n);
      }
    } catch { /* reset by the peer */ }
    this.#shut();
  }
}

type FrameHandler = (c: WsConnection, events: ReturnType<WsFrameDecoder["push"]>) => void;

/** What the peer's frames mean: pong to pings, echo a close, SIP messages up. */
export function handleFrameEvents(
  connection: WsConnection,
  events: ReturnType<WsFrameDecoder["push"]>,
  sink: TransportSink,
): void {
  for (const event of events) {
    switch (event.kind) {
      case "ping":
        connection.frame(OPCODE.pong, event.payload);
        break;
      case "pong":
        break;
      case "close":
        // The client closed: report its code (1005 when none, RFC 6455 §7.1.5), echo it.
        connection.closeInfo ??= { code: event.code ?? 1005, reason: event.reason, by: "client" };
        connection.close(event.code ?? CLOSE.normal, "");
        return;
      case "violation":
        sink.dropped(connection.flow, `WebSocket protocol error: ${event.reason}`);
        connection.close(event.code, event.reason);
        return;
      case "message":
        onMessage(connection, event.bytes, event.tooLarge, sink);
    }
  }
}

function onMessage(
  connection: WsConnection,
  bytes: Uint8Array,
  tooLarge: boolean,
  sink: TransportSink,
): void {
  connection.lastActivity = Date.now();
  if (tooLarge) {
    sink.dropped(connection.flow, "Message Too Large");
    return;
  }
  if (bytes.length > 0 && bytes.every((b) => b === 13 || b === 10)) {
    // RFC 5626-style CRLF keep-alive inside a frame: a double CRLF gets a single CRLF.
    if (bytes.length >= 4) connection.frame(OPCODE.text, CRLF);
    return;
  }
  connection.messagesIn++;
  sink.deliver(bytes, connection.flow);
}
