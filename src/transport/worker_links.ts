/**
 * @module How one transport layer shares the SIP work with the other workers of the server
 * (the owner model of docs/workers.md): every message of a call is handled by the worker its
 * Call-ID hashes to, and a connection lives in the worker that accepted or opened it
 * (its flow's `owner` says which).
 */
import type { Flow } from "./types.ts";

export interface WorkerLinks {
  /** This worker, 0 for the main thread. */
  readonly index: number;
  /** Workers sharing the calls; 1 means this one works alone. */
  readonly count: number;
  /** A message whose call another worker owns: hand it the bytes, unparsed. */
  handOff(worker: number, bytes: Uint8Array, flow: Flow): void;
  /** A flow whose connection another worker holds: ask it to send the bytes. */
  sendVia(worker: number, bytes: Uint8Array, flow: Flow): void;
  /**
   * Applies what the other workers sent this one so far (location changes, flows, bans): a
   * message read from the network now then sees every change made before it was sent,
   * though those changes are written without waking this thread (workers/ring.ts).
   */
  catchUp?(): void;
  /** A connection opened or closed here: every other worker learns it is (no longer) live. */
  announce(flow: Flow, open: boolean): void;
  /** A worker this one hands messages to is behind (its inbound ring is full). */
  behind?(): boolean;
  /** The operator turned WebSocket handshakes off or on here: every worker follows. */
  webSocketsChanged?(enabled: boolean): void;
  /** The operator stopped (or started) accepting SIP here: every worker follows. */
  acceptingChanged?(accepting: boolean): void;
}

const REGISTER = "REGISTER ";

/**
 * A REGISTER is handled by the worker that read it, whatever its Call-ID (a datagram by the
 * thread whose socket read it, udp_reuseport.ts; a connection's by the worker holding it), unless that is
 * a main thread that only dispatches (3 workers or more: it hands it on like any other
 * message). The registrar keeps nothing between REGISTER transactions (the binding is copied
 * to every worker), a retransmitted datagram is read by the same thread, and no CANCEL
 * is sent for a non-INVITE request (RFC 3261 §9.1). It spares two hand-overs per
 * registration.
 */
export function staysWhereRead(links: WorkerLinks, bytes: Uint8Array): boolean {
  if (links.index === 0 && links.count > 2) return false;
  if (bytes.length < REGISTER.length) return false;
  for (let i = 0; i < REGISTER.length; i++) {
    if (bytes[i] !== REGISTER.charCodeAt(i)) return false;
  }
  return true;
}
