/**
 * @module What the transport layer needs from each transport: the `Connection` of a
 * stream flow (TCP, TLS, WS, WSS) and the `TransportSink` a transport reports to. A
 * transport frames bytes into whole messages and hands them up; it never parses SIP.
 */
import type { Flow, FlowOwner, TransportName } from "./types.ts";

/** Who ended a connection: the peer, sipws itself (limits, shutdown), or an operator. */
export type CloseInitiator = "client" | "server" | "admin";

/** How a WebSocket ended (RFC 6455 §7.4 code and reason). */
export interface CloseInfo {
  code: number;
  reason: string;
  by: CloseInitiator;
}

export interface Connection {
  readonly flow: Flow;
  readonly openedAt: number;
  /** WebSocket handshake Origin, when there was one. */
  readonly origin?: string;
  messagesIn: number;
  messagesOut: number;
  lastActivity: number;
  /** WebSocket: payload bytes received and sent. */
  bytesIn?: number;
  bytesOut?: number;
  /** WebSocket: bytes accepted for sending but not yet written to the socket. */
  queued?(): number;
  /** WebSocket: set once closed, before the transport reports the close. */
  closeInfo?: CloseInfo;
  send(bytes: Uint8Array): Promise<void>;
  /** Keep-alive probe: CRLFCRLF (RFC 5626 §4.4.1), in a text frame on WS. */
  ping(): void;
  /** WebSocket: a Ping frame (RFC 6455 §5.5.2); its Pong counts as heard. */
  probe?(): void;
  /** WebSocket connections send `code` and `reason` in their close frame. */
  close(code?: number, reason?: string, by?: CloseInitiator): void;
}

/** An operator's ping: a WebSocket gets a real Ping frame, TCP and TLS a CRLFCRLF. */
export function operatorPing(c: Connection): void {
  if (c.probe) c.probe();
  else c.ping();
}

export interface TransportSink {
  /** The process new flows belong to (their ids carry it). */
  readonly owner: FlowOwner;
  /** One whole SIP message read from `flow`; `reply` sends bytes back the same way. */
  deliver(bytes: Uint8Array, flow: Flow): void;
  /** Asked before accepting a connection from `host`; false: close it at once. */
  admit(host: string, transport: TransportName): boolean;
  opened(connection: Connection): void;
  closed(connection: Connection): void;
  /** Bytes dropped without a response (broken framing, oversize, not SIP). */
  dropped(flow: Flow, reason: string): void;
}
