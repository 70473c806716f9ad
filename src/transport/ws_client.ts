/**
 * @module WS client mode (as OpenSIPS 2.2+ has it): when a request must go to
 * `sip:...;transport=ws|wss` and no flow reaches that address, sipws opens the WebSocket
 * itself: TCP (or TLS, verifying the peer's certificate against the system roots or the
 * configured CA file) to an IP literal, an upgrade asking for subprotocol `sip`, a check of
 * the 101 (`Sec-WebSocket-Accept`, `sip` chosen), then a `WsConnection` whose frames we mask.
 * The transport layer registers it like an accepted one, so later requests reuse it and
 * responses and requests from the peer come back on it. It never resolves names.
 */
import { normalizeHost } from "./address.ts";
import type { TransportSink } from "./connection.ts";
import { dial } from "./dial.ts";
import { streamFlowId } from "./flow_id.ts";
import type { Flow } from "./types.ts";
import { handleFrameEvents, WsConnection } from "./ws_connection.ts";
import { WsFrameDecoder } from "./ws_frames.ts";
import { acceptValue, readResponseHead } from "./ws_handshake.ts";

export interface WsClientOptions {
  /** PEM CA certificates a WSS peer may chain to; undefined: the system roots. */
  caCerts?: string[];
  maxMessageSize: number;
  maxFragments: number;
  /** Connect, TLS and upgrade must be done within this. */
  timeoutMs: number;
  /** Called once the connection has closed (before the sink hears of it). */
  onClosed?: (connection: WsConnection) => void;
}

const encoder = new TextEncoder();
const MAX_RESPONSE_HEAD = 16384;

function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Opens a SIP WebSocket to `host:port`; rejects, naming the peer, when it cannot. */
export async function connectWebSocket(
  transport: "ws" | "wss",
  host: string,
  port: number,
  sink: TransportSink,
  options: WsClientOptions,
): Promise<WsConnection> {
  const where = `${transport}://${hostPort(host, port)}`;
  let conn: Deno.Conn | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      try {
        conn?.close();
      } catch { /* closed */ }
      reject(new Error(`${where}: no WebSocket within ${options.timeoutMs} ms`));
    }, options.timeoutMs);
  });
  try {
    return await Promise.race([timeout, handshake()]);
  } catch (error) {
    try {
      conn?.close();
    } catch { /* closed */ }
    throw error;
  } finally {
    clearTimeout(timer);
  }

  async function handshake(): Promise<WsConnection> {
    conn = await dial(host, port, { tls: transport === "wss", caCerts: options.caCerts });
    if (transport === "wss") await (conn as Deno.TlsConn).handshake();
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    const request = [
      "GET / HTTP/1.1",
      `Host: ${hostPort(host, port)}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Key: ${key}`,
      "Sec-WebSocket-Version: 13",
      "Sec-WebSocket-Protocol: sip",
      "",
      "",
    ].join("\r\n");
    const bytes = encoder.encode(request);
    let off = 0;
    while (off < bytes.length) off += await conn.write(bytes.subarray(off));
    const read = await readResponseHead(conn, MAX_RESPONSE_HEAD);
    if (read.kind !== "head" || !read.head) throw new Error(`${where}: no HTTP answer`);
    const { status, headers } = read.head;
    if (status !== 101) throw new Error(`${where}: upgrade refused with ${status}`);
    if (headers.get("sec-websocket-accept") !== await acceptValue(key)) {
      throw new Error(`${where}: wrong Sec-WebSocket-Accept`);
    }
    if (headers.get("sec-websocket-protocol")?.toLowerCase() !== "sip") {
      throw new Error(`${where}: the server did not choose subprotocol sip`);
    }
    const local = conn.localAddr as Deno.NetAddr;
    const flow: Flow = {
      id: streamFlowId(transport, sink.owner),
      owner: sink.owner,
      transport,
      local: { host: normalizeHost(local.hostname), port: local.port },
      remote: { host: normalizeHost(host), port },
      reliable: true,
      secure: transport === "wss",
    };
    const connection = new WsConnection(conn, flow, undefined, (c) => {
      options.onClosed?.(c);
      sink.closed(c);
    }, true);
    sink.opened(connection);
    const decoder = new WsFrameDecoder(options.maxMessageSize, options.maxFragments, "server");
    connection.run(read.rest, decoder, (c, events) => handleFrameEvents(c, events, sink));
    return connection;
  }
}
