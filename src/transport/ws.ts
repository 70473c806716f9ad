/**
 * @module SIP over WebSocket and secure WebSocket (RFC 7118): the HTTP upgrade with the
 * `sip` subprotocol and an optional Origin allow-list, one SIP message per text or binary
 * frame, CRLF keep-alives, and one `Connection` per socket. permessage-deflate is never
 * negotiated (Deno does not offer it), which Safari/iOS need. WSS terminates TLS on our own
 * `Deno.listenTls` listener and relays each connection to a plain `Deno.serve` bound to an
 * ephemeral loopback port, because a certificate reload must not drop established
 * WebSockets: `Deno.serve` cannot change its certificate, and `shutdown()` (or its abort
 * `signal`) closes the upgraded sockets it served, so a second server on the port
 * (`reusePort`) would still leave the old one accepting. A TLS listener, as in `tcp.ts`, can be
 * closed and re-opened with a new certificate while its accepted connections live on. The
 * relay keeps the external peer address per internal connection (keyed by the relay's
 * loopback port) so flows carry the real remote address, and the internal server refuses
 * connections that did not come through the relay. This module must not parse SIP.
 */
import { normalizeHost } from "./address.ts";
import { type Connection, newConnectionId, type TransportSink } from "./connection.ts";
import { ReloadableListener, type TlsCredentials } from "./tcp.ts";
import type { Admission } from "./ws_policy.ts";
import type { Address, Flow } from "./types.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface WsOptions {
  hostname: string;
  port: number;
  tls?: TlsCredentials;
  /** The handshake policy (ws_policy.ts): Origin, Host, admin switch, CORS. */
  admit: (headers: Headers) => Admission;
  maxMessageSize: number;
}

class WsConnection implements Connection {
  readonly flow: Flow;
  readonly openedAt = Date.now();
  readonly origin?: string;
  messagesIn = 0;
  messagesOut = 0;
  lastActivity = Date.now();
  #socket: WebSocket;

  constructor(socket: WebSocket, flow: Flow, origin: string | undefined) {
    this.#socket = socket;
    this.flow = flow;
    this.origin = origin;
  }

  send(bytes: Uint8Array): Promise<void> {
    if (this.#socket.readyState !== WebSocket.OPEN) {
      return Promise.reject(new Error(`flow ${this.flow.id} is closed`));
    }
    this.messagesOut++;
    // Browsers' SIP stacks expect text frames.
    this.#socket.send(decoder.decode(bytes));
    return Promise.resolve();
  }

  ping(): void {
    if (this.#socket.readyState === WebSocket.OPEN) this.#socket.send("\r\n\r\n");
  }

  close(): void {
    if (this.#socket.readyState <= WebSocket.OPEN) this.#socket.close(1000, "closed by server");
  }
}

export class WsTransport {
  readonly secure: boolean;
  local: Address;
  #options: WsOptions;
  #sink: TransportSink;
  #server: Deno.HttpServer;
  /** WSS only: the swappable TLS front that relays to `#server`. */
  #relay?: TlsRelay;

  constructor(options: WsOptions, sink: TransportSink) {
    this.secure = options.tls !== undefined;
    this.#options = options;
    this.#sink = sink;
    const handler = (req: Request, info: Deno.ServeHandlerInfo) => this.#handshake(req, info);
    const { hostname, port, tls } = options;
    if (tls) {
      // Bind the public port first: if it fails, nothing else has been opened.
      const relay = new TlsRelay(hostname, port, tls);
      try {
        this.#server = Deno.serve({ hostname: RELAY_HOST, port: 0, onListen() {} }, handler);
      } catch (error) {
        relay.close();
        throw error;
      }
      relay.run((this.#server.addr as Deno.NetAddr).port);
      this.#relay = relay;
      this.local = relay.local;
    } else {
      this.#server = Deno.serve({ hostname, port, onListen() {} }, handler);
      const addr = this.#server.addr as Deno.NetAddr;
      this.local = { host: normalizeHost(addr.hostname), port: addr.port };
    }
  }

  /**
   * WSS: new handshakes use the new certificate; established WebSockets are untouched.
   * Throws at once on an unusable pair; settles when the new listener is bound.
   */
  reloadCertificate(tls: TlsCredentials): Promise<void> {
    return this.#relay?.reloadCertificate(tls) ?? Promise.resolve();
  }

  #handshake(req: Request, info: Deno.ServeHandlerInfo): Response {
    if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("SIP over WebSocket endpoint: upgrade required\n", {
        status: 426,
        headers: { upgrade: "websocket", "sec-websocket-protocol": "sip" },
      });
    }
    const offered = (req.headers.get("sec-websocket-protocol") ?? "").split(",").map((p) =>
      p.trim().toLowerCase()
    );
    if (!offered.includes("sip")) {
      return new Response("the 'sip' WebSocket subprotocol is required (RFC 7118)\n", {
        status: 400,
      });
    }
    const origin = req.headers.get("origin") ?? undefined;
    const admitted = this.#options.admit(req.headers);
    if (!admitted.ok) return new Response(admitted.text, { status: admitted.status });
    // remoteAddr must be read before the upgrade: afterwards the request is closed.
    const peer = info.remoteAddr as Deno.NetAddr;
    const remote = this.#relay ? this.#relay.peerOf(peer) : peer;
    if (!remote) {
      // A local process that reached the internal port directly, bypassing TLS.
      return new Response("WSS is served on the TLS port only\n", { status: 403 });
    }
    const { socket, response } = Deno.upgradeWebSocket(req, { protocol: "sip" });
    for (const [name, value] of Object.entries(admitted.headers)) response.headers.set(name, value);
    const transport = this.secure ? "wss" : "ws";
    const flow: Flow = {
      id: newConnectionId(transport),
      transport,
      local: this.local,
      remote: { host: normalizeHost(remote.hostname), port: remote.port },
      reliable: true,
      secure: this.secure,
    };
    const connection = new WsConnection(socket, flow, origin);
    socket.binaryType = "arraybuffer";
    socket.onopen = () => this.#sink.opened(connection);
    socket.onclose = () => this.#sink.closed(connection);
    socket.onerror = () => {/* onclose follows */};
    socket.onmessage = (event) => this.#onFrame(connection, socket, event.data);
    return response;
  }

  #onFrame(connection: WsConnection, socket: WebSocket, data: string | ArrayBuffer): void {
    connection.lastActivity = Date.now();
    const bytes = typeof data === "string" ? encoder.encode(data) : new Uint8Array(data);
    if (bytes.length > 0 && bytes.every((b) => b === 13 || b === 10)) {
      // RFC 5626-style CRLF keep-alive inside a frame: a double CRLF gets a single CRLF.
      if (bytes.length >= 4) socket.send("\r\n");
      return;
    }
    if (bytes.length > this.#options.maxMessageSize) {
      this.#sink.dropped(connection.flow, "Message Too Large");
      return;
    }
    connection.messagesIn++;
    this.#sink.deliver(bytes, connection.flow);
  }

  async close(): Promise<void> {
    await this.#server.shutdown().catch(() => {});
    this.#relay?.close();
  }
}

/** The internal HTTP server listens here; only the relay connects to it. */
const RELAY_HOST = "127.0.0.1";
/** A peer that opens TCP but never completes the TLS handshake is dropped after this. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * TLS termination for WSS: accepts on the public port (a `ReloadableListener`), completes
 * the handshake, and pipes the plaintext to the internal HTTP server. Reloading the
 * certificate swaps only the listener; relayed connections keep their TLS session.
 */
class TlsRelay {
  local: Address;
  #listener: ReloadableListener;
  #innerPort = 0;
  /** Relay-side loopback port of each internal connection → the external peer. */
  #peers = new Map<number, Deno.NetAddr>();
  #conns = new Set<Deno.Conn>();
  #stopped = false;

  constructor(hostname: string, port: number, tls: TlsCredentials) {
    this.#listener = new ReloadableListener(
      hostname,
      port,
      tls,
      (conn) => this.#relay(conn as Deno.TlsConn),
    );
    this.local = this.#listener.local;
  }

  /** Starts accepting; `innerPort` is the internal HTTP server's loopback port. */
  run(innerPort: number): void {
    this.#innerPort = innerPort;
    this.#listener.run();
  }

  async #relay(outer: Deno.TlsConn): Promise<void> {
    this.#conns.add(outer);
    let inner: Deno.TcpConn | undefined;
    let innerPort: number | undefined;
    try {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error("TLS handshake timed out")),
          HANDSHAKE_TIMEOUT_MS,
        );
      });
      try {
        await Promise.race([outer.handshake(), timeout]);
      } finally {
        clearTimeout(timer);
      }
      if (this.#stopped) return;
      inner = await Deno.connect({ hostname: RELAY_HOST, port: this.#innerPort });
      inner.setNoDelay(true); // one SIP message per frame: no Nagle delay on the extra hop
      this.#conns.add(inner);
      innerPort = (inner.localAddr as Deno.NetAddr).port;
      // Registered before any byte reaches the internal server, so the handler finds it.
      this.#peers.set(innerPort, outer.remoteAddr as Deno.NetAddr);
      const pipes = [
        outer.readable.pipeTo(inner.writable, { preventClose: true }),
        inner.readable.pipeTo(outer.writable, { preventClose: true }),
      ];
      // WebSocket is full duplex: when either side ends, the relayed connection is over.
      await Promise.race(pipes.map((p) => p.catch(() => {})));
    } catch {
      // Failed handshake, or the internal server is gone: only this connection ends.
    } finally {
      if (innerPort !== undefined) this.#peers.delete(innerPort);
      for (const conn of [outer, inner]) {
        if (!conn) continue;
        this.#conns.delete(conn);
        try {
          conn.close();
        } catch { /* closed already */ }
      }
    }
  }

  /** The external peer of an internal connection, or undefined if it bypassed the relay. */
  peerOf(internal: Deno.NetAddr): Deno.NetAddr | undefined {
    if (normalizeHost(internal.hostname) !== RELAY_HOST) return undefined;
    return this.#peers.get(internal.port);
  }

  /** See `ReloadableListener.reload`: throws at once on an unusable pair. */
  reloadCertificate(tls: TlsCredentials): Promise<void> {
    return this.#listener.reload(tls);
  }

  close(): void {
    this.#stopped = true;
    this.#listener.close();
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch { /* closed already */ }
    }
    this.#conns.clear();
  }
}
