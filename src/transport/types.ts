/**
 * @module The transport contract shared by the layers above: what a flow is, where a
 * message came from and how to say where one should go. Types only.
 */
import type { SipMessage } from "../sip/message.ts";

export type TransportName = "udp" | "tcp" | "tls" | "ws" | "wss";

export interface Address {
  host: string;
  port: number;
}

/** The process a flow lives in: one worker on one node. */
export interface FlowOwner {
  node: string;
  worker: number;
}

/**
 * A flow (RFC 5626 §3): one connection for stream transports, or one local socket plus
 * remote address for UDP. Responses and requests to a binding go back on it. A flow is a
 * plain record (a reference, not the socket): it can be stored, serialized and sent to
 * another process, whose transport layer sees from `owner` that the flow is not its own.
 */
export interface Flow {
  /**
   * Globally unique, built by the transport layer only (flow_id.ts), e.g.
   * "ws:3fa09c1e.0.k2x9-7" or "udp:3fa09c1e.0:127.0.0.1:5060>127.0.0.1:40000".
   */
  id: string;
  /** Where the flow lives; absent only in hand-made flows of unit tests (taken as local). */
  owner?: FlowOwner;
  transport: TransportName;
  local: Address;
  remote: Address;
  /** TCP, TLS, WS, WSS: no retransmissions (RFC 3261 §17.1.1.2). */
  reliable: boolean;
  /** TLS, WSS. */
  secure: boolean;
}

/** A message as it left the transport layer upward. */
export interface Inbound {
  message: SipMessage;
  flow: Flow;
  /** Milliseconds since epoch. */
  receivedAt: number;
}

/** Where to send: an existing flow, or an address to reach (opening a connection if needed). */
export type Target =
  | { flow: Flow }
  | { transport: TransportName; host: string; port: number };

/** What the transaction and core layers need from the transport layer. */
export interface MessageSender {
  /** Sends and returns the flow used; rejects when the flow is gone or unreachable. */
  send(message: SipMessage, target: Target): Promise<Flow>;
  /** Local address to put in Via / Record-Route for a transport. */
  localAddress(transport: TransportName): Address | undefined;
}
