/**
 * @module SIP over WebSocket and secure WebSocket (RFC 7118): the HTTP upgrade with the
 * `sip` subprotocol and an optional Origin allow-list, one SIP message per text or binary
 * frame, CRLF keep-alives, and one `Connection` per socket. permessage-deflate is never
 * negotiated (Deno does not offer it), which Safari/iOS need.
 */
import { normalizeHost } from "./address.ts";
import { type Connection, newConnectionId, type TransportSink } from "./connection.ts";
import type { TlsCredentials } from "./tcp.ts";
import type { Address, Flow } from "./types.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface WsOptions {
  hostname: string;
  port: number;
  tls?: TlsCredentials;
  allowedOrigins: string[];
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

  constructor(options: WsOptions, sink: TransportSink) {
    this.secure = options.tls !== undefined;
    this.#options = options;
    this.#sink = sink;
    this.#server = this.#serve();
    const addr = this.#server.addr as Deno.NetAddr;
    this.local = { host: normalizeHost(addr.hostname), port: addr.port };
  }

  #serve(): Deno.HttpServer {
    const { hostname, port, tls } = this.#options;
    const handler = (req: Request, info: Deno.ServeHandlerInfo) => this.#handshake(req, info);
    return tls
      ? Deno.serve({ hostname, port, cert: tls.cert, key: tls.key, onListen() {} }, handler)
      : Deno.serve({ hostname, port, onListen() {} }, handler);
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
    const allowed = this.#options.allowedOrigins;
    if (allowed.length > 0 && (!origin || !allowed.includes(origin))) {
      return new Response("origin not allowed\n", { status: 403 });
    }
    // remoteAddr must be read before the upgrade: afterwards the request is closed.
    const remote = info.remoteAddr as Deno.NetAddr;
    const { socket, response } = Deno.upgradeWebSocket(req, { protocol: "sip" });
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
  }
}
