/**
 * @module SIP over WebSocket and secure WebSocket (RFC 7118) on our own RFC 6455 server:
 * the handshake (ws_handshake.ts: header size limit, `sip` subprotocol, then the
 * ws_policy.ts admission), framing (ws_frames.ts: unmasked client frames are refused with 1002), one
 * SIP message per text or binary frame, CRLF keep-alives, and a ping/pong keep-alive
 * policy. Deno's `upgradeWebSocket` is not used: it gives no say over header size or
 * masking, hides pongs, and its own idle timeout (30 s by default) closed clients that
 * had answered its ping (a pong read while the ping write was still pending re-armed the
 * wrong timer). WSS is the same on a TLS `ReloadableListener`, so a certificate reload
 * keeps established sockets. permessage-deflate is never negotiated (Safari/iOS need
 * that). This module must not parse SIP.
 */
import { normalizeHost } from "./address.ts";
import type { CloseInfo, CloseInitiator, Connection, TransportSink } from "./connection.ts";
import { streamFlowId } from "./flow_id.ts";
import { ReloadableListener, type TlsCredentials } from "./listener.ts";
import type { Address, Flow } from "./types.ts";
import { CLOSE, encodeClose, encodeFrame, OPCODE, WsFrameDecoder } from "./ws_frames.ts";
import { answer, readRequestHead, refusal, switchingProtocols } from "./ws_handshake.ts";
import type { Admission } from "./ws_policy.ts";
import { WriteQueue } from "./write_queue.ts";

const encoder = new TextEncoder();
const CRLF = encoder.encode("\r\n");
const CRLFCRLF = encoder.encode("\r\n\r\n");

export interface WsOptions {
  hostname: string;
  port: number;
  tls?: TlsCredentials;
  /** The handshake policy (ws_policy.ts): Origin, Host, admin switch, CORS. */
  admit: (headers: Headers) => Admission;
  /** Largest message (all fragments), bytes; larger ones are dropped unread. */
  maxMessageSize: number;
  /** Most frames per message; more closes the connection with 1009. 0: no limit. */
  maxFragments: number;
  /** From accept (TLS included) to a complete request head; slower peers are dropped. */
  handshakeTimeoutMs: number;
  /** A write waiting longer than this on a client that reads nothing closes it; 0: never. */
  sendTimeoutMs: number;
  /** Largest handshake request head, bytes; a longer one gets 431. */
  maxHeaderBytes: number;
  /** Seconds of silence before the server pings; 0 disables pings and idle closes. */
  pingInterval: number;
  /** Seconds after the ping with nothing heard (no pong, no data) before closing. */
  pingTimeout: number;
  /** SO_REUSEPORT: every worker listens on the port and the kernel spreads connections. */
  reusePort?: boolean;
}

/** Read buffer per connection: small, since thousands of idle clients each hold one. */
const READ_BUFFER = 8192;

class WsConnection implements Connection {
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
  #closed = false;

  constructor(
    conn: Deno.Conn,
    flow: Flow,
    origin: string | undefined,
    onClosed: (c: WsConnection) => void,
  ) {
    this.#conn = conn;
    this.flow = flow;
    this.origin = origin;
    this.#onClosed = onClosed;
    this.#writer = new WriteQueue(conn, () => this.#shut());
  }

  send(bytes: Uint8Array): Promise<void> {
    if (this.#closing) return Promise.reject(new Error(`flow ${this.flow.id} is closed`));
    this.messagesOut++;
    // Browsers' SIP stacks expect text frames.
    return this.#write(encodeFrame(OPCODE.text, bytes));
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
    if (!this.#closing) this.#write(encodeFrame(opcode, payload)).catch(() => {});
  }

  /** Sends a close frame with `code` and `reason`, then closes TCP (RFC 6455 §7.1.1). */
  close(code: number = CLOSE.normal, reason = "closed by server", by: CloseInitiator = "server") {
    if (this.#closing) return;
    this.#closing = true;
    this.closeInfo ??= { code, reason, by };
    this.#write(encodeClose(code, reason)).catch(() => {});
    this.#writer.drained().then(() => this.#shut());
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
    try {
      this.#conn.close();
    } catch { /* closed by the peer */ }
    this.#onClosed(this);
  }

  /** Read loop over frames after the handshake; never throws. */
  async run(rest: Uint8Array, decoder: WsFrameDecoder, onEvents: FrameHandler): Promise<void> {
    const buffer = new Uint8Array(READ_BUFFER);
    try {
      let chunk: Uint8Array | undefined = rest;
      while (!this.#closing) {
        if (chunk.length > 0) {
          this.bytesIn += chunk.length;
          this.lastHeard = Date.now();
          this.pinged = false;
          onEvents(this, decoder.push(chunk));
        }
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        chunk = buffer.subarray(0, n);
      }
    } catch { /* reset by the peer */ }
    this.#shut();
  }
}

type FrameHandler = (c: WsConnection, events: ReturnType<WsFrameDecoder["push"]>) => void;

export class WsTransport {
  readonly secure: boolean;
  local: Address;
  #options: WsOptions;
  #sink: TransportSink;
  #listener: ReloadableListener;
  #connections = new Set<WsConnection>();
  /** Handshakes in progress, so `close` can end them. */
  #pending = new Set<Deno.Conn>();
  #keepalive?: ReturnType<typeof setInterval>;

  constructor(options: WsOptions, sink: TransportSink) {
    this.secure = options.tls !== undefined;
    this.#options = options;
    this.#sink = sink;
    this.#listener = new ReloadableListener(
      options.hostname,
      options.port,
      options.tls,
      (conn) => this.#accept(conn),
      options.reusePort,
    );
    this.local = this.#listener.local;
    this.#listener.run();
    this.#keepalive = startSweep(this.#connections, options, sink);
  }

  /**
   * WSS: new handshakes use the new certificate; established WebSockets are untouched.
   * Throws at once on an unusable pair; settles when the new listener is bound.
   */
  reloadCertificate(tls: TlsCredentials): Promise<void> {
    return this.secure ? this.#listener.reload(tls) : Promise.resolve();
  }

  async #accept(conn: Deno.Conn): Promise<void> {
    // Bans and connection caps: refused before any byte of the handshake is read.
    const peer = normalizeHost((conn.remoteAddr as Deno.NetAddr).hostname);
    if (!this.#sink.admit(peer, this.secure ? "wss" : "ws")) return close(conn);
    this.#pending.add(conn);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<{ kind: "timeout" }>((resolve) => {
      timer = setTimeout(() => resolve({ kind: "timeout" }), this.#options.handshakeTimeoutMs);
    });
    try {
      const read = await Promise.race([
        readRequestHead(conn, this.#options.maxHeaderBytes),
        timeout,
      ]);
      if (read.kind !== "head") {
        if (read.kind === "too-large") {
          await writeAll(conn, refusal(431, "Request Header Fields Too Large"));
        }
        return close(conn);
      }
      const verdict = answer(read.head, this.#options.admit);
      if (!verdict.accept) {
        await writeAll(
          conn,
          refusal(verdict.status, verdict.reason, verdict.body, verdict.headers),
        );
        return close(conn);
      }
      await writeAll(conn, await switchingProtocols(verdict.key, verdict.headers));
      this.#open(conn, verdict.origin, read.rest);
    } catch {
      close(conn); // failed TLS handshake, or the peer went away mid-handshake
    } finally {
      clearTimeout(timer);
      this.#pending.delete(conn);
    }
  }

  #open(conn: Deno.Conn, origin: string | undefined, rest: Uint8Array): void {
    const remote = conn.remoteAddr as Deno.NetAddr;
    const transport = this.secure ? "wss" : "ws";
    const flow: Flow = {
      id: streamFlowId(transport, this.#sink.owner),
      owner: this.#sink.owner,
      transport,
      local: this.local,
      remote: { host: normalizeHost(remote.hostname), port: remote.port },
      reliable: true,
      secure: this.secure,
    };
    const connection = new WsConnection(conn, flow, origin, (c) => {
      this.#connections.delete(c);
      this.#sink.closed(c);
    });
    this.#connections.add(connection);
    this.#sink.opened(connection);
    const decoder = new WsFrameDecoder(this.#options.maxMessageSize, this.#options.maxFragments);
    connection.run(rest, decoder, (c, events) => this.#onEvents(c, events));
  }

  #onEvents(connection: WsConnection, events: ReturnType<WsFrameDecoder["push"]>): void {
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
          this.#sink.dropped(connection.flow, `WebSocket protocol error: ${event.reason}`);
          connection.close(event.code, event.reason);
          return;
        case "message":
          this.#onMessage(connection, event.bytes, event.tooLarge);
      }
    }
  }

  #onMessage(connection: WsConnection, bytes: Uint8Array, tooLarge: boolean): void {
    connection.lastActivity = Date.now();
    if (tooLarge) {
      this.#sink.dropped(connection.flow, "Message Too Large");
      return;
    }
    if (bytes.length > 0 && bytes.every((b) => b === 13 || b === 10)) {
      // RFC 5626-style CRLF keep-alive inside a frame: a double CRLF gets a single CRLF.
      if (bytes.length >= 4) connection.frame(OPCODE.text, CRLF);
      return;
    }
    connection.messagesIn++;
    this.#sink.deliver(bytes, connection.flow);
  }

  close(): Promise<void> {
    clearInterval(this.#keepalive);
    this.#listener.close();
    for (const conn of this.#pending) close(conn);
    for (const c of [...this.#connections]) c.close(CLOSE.goingAway, "server shutting down");
    return Promise.resolve();
  }
}

/**
 * The keep-alive and send-timeout policy. A connection silent for `pingInterval` gets a
 * ping; one that has sent nothing at all (no pong, no data) for `pingInterval + pingTimeout`
 * is closed, and the flow's bindings go with it. A connection whose write has waited
 * `sendTimeoutMs` on a client that reads nothing is dropped at once (nothing is buffered
 * without bound). A sweep that itself ran late (the event loop was stalled, so replies may
 * sit unread) closes nobody for silence on that turn.
 */
function startSweep(
  connections: Set<WsConnection>,
  o: WsOptions,
  sink: TransportSink,
): ReturnType<typeof setInterval> | undefined {
  const pings = o.pingInterval > 0;
  if (!pings && o.sendTimeoutMs <= 0) return undefined;
  const interval = o.pingInterval * 1000;
  const deadline = interval + o.pingTimeout * 1000;
  const periods = [1000];
  if (pings) periods.push(interval / 4);
  if (o.sendTimeoutMs > 0) periods.push(o.sendTimeoutMs / 4);
  const period = Math.max(20, Math.min(...periods));
  let last = Date.now();
  return setInterval(() => {
    const now = Date.now();
    const stalled = now - last > 2 * period + 100;
    last = now;
    for (const c of connections) {
      // Not held back by a late sweep: a busy loop is when a non-reader costs the most.
      if (o.sendTimeoutMs > 0 && c.stalledFor(now) >= o.sendTimeoutMs) {
        sink.dropped(c.flow, "WebSocket send timeout");
        c.abort("send timeout");
        continue;
      }
      if (!pings) continue;
      const silent = now - c.lastHeard;
      if (silent >= deadline && !stalled) c.close(CLOSE.goingAway, "no answer to ping");
      else if (silent >= interval && !c.pinged) c.probe();
    }
  }, period);
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

function close(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* closed already */ }
}
