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
import type { TransportSink } from "./connection.ts";
import { streamFlowId } from "./flow_id.ts";
import { ReloadableListener, type TlsCredentials } from "./listener.ts";
import type { Address, Flow } from "./types.ts";
import { CLOSE, WsFrameDecoder } from "./ws_frames.ts";
import { handleFrameEvents, WsConnection } from "./ws_connection.ts";
import type { StreamLoadWatch } from "./stream_overload.ts";
import { connectWebSocket, type WsClientOptions } from "./ws_client.ts";
import { answer, readRequestHead, refusal, switchingProtocols } from "./ws_handshake.ts";
import type { Admission } from "./ws_policy.ts";

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
  /** Stream overload watch: each connection's reads report a backlog to it. */
  load?: StreamLoadWatch;
}

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
  /**
   * WS client mode: opens a WebSocket to `host:port` that this transport's keep-alive and
   * send-timeout sweep watches like the accepted ones.
   */
  async connect(host: string, port: number, options: WsClientOptions): Promise<WsConnection> {
    const connection = await connectWebSocket(
      this.secure ? "wss" : "ws",
      host,
      port,
      this.#sink,
      { ...options, onClosed: (c) => this.#connections.delete(c) },
    );
    this.#connections.add(connection);
    return connection;
  }

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
    const reads = this.#options.load?.reads();
    connection.run(rest, decoder, (c, events) => handleFrameEvents(c, events, this.#sink), reads);
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
