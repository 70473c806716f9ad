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
  /** A connection opened or closed here: every other worker learns it is (no longer) live. */
  announce(flow: Flow, open: boolean): void;
  /** The operator turned WebSocket handshakes off or on here: every worker follows. */
  webSocketsChanged?(enabled: boolean): void;
  /** The operator stopped (or started) accepting SIP here: every worker follows. */
  acceptingChanged?(accepting: boolean): void;
}
