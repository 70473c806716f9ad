/**
 * @module The messages between the main thread and the SIP worker threads (see
 * docs/workers.md). Everything here is plain data (bytes, flows, bindings, counter deltas,
 * events): it crosses the rings in binary (ring_codec.ts), or `postMessage` at start and stop.
 */
import type { Config } from "../config/config.ts";
import type { Binding } from "../core/location.ts";
import type { ClusterChange } from "../core/cluster_view.ts";
import type { DialogView, SipwsEvent } from "../events.ts";
import type { Address, Flow, FlowOwner } from "../transport/types.ts";
import type { Ban, BanChange } from "../transport/abuse_guard.ts";
import type { CallAction } from "../core/calls/call_control.ts";
import type { Decision, InboundInfo } from "../core/calls/inbound_offer.ts";
import type { CloseArgs, ConnectionSnapshot } from "./mirror.ts";
import type { LocationRecord } from "./location_record.ts";

/** A refusal of a call action, as it crosses back (a `CallError` again on arrival). */
export interface CallRefusal {
  status?: number;
  message: string;
  field?: string;
}

/** What a worker thread needs to run its part of the server. */
export interface WorkerSetup {
  index: number;
  count: number;
  /**
   * The UDP socket this worker sends on (and its flows' owner, the main thread's): the main
   * thread's, or (`read`) one of its own on the SIP port that it also reads (udp_reuseport.ts).
   */
  udpSocket?: { fd: number; local: Address; owner: FlowOwner; read?: boolean };
  /** Key material when none is configured: a nonce or flow token one worker made, all check. */
  fallbackSecret: Uint8Array;
  /** The node all workers of this process name as their flows' owner. */
  node: string;
  /** The location table as it is when the worker starts. */
  bindings: Binding[];
  /** Connections the other workers hold when it starts. */
  flows: Flow[];
  /** The main thread's channel to this worker (ring.ts); every message after `init`. */
  ring: SharedArrayBuffer;
  /**
   * Every worker thread's inbound ring, by worker index (none at 0, the main thread): a
   * worker hands another the messages of its calls, and its sends, directly.
   */
  peers: (SharedArrayBuffer | undefined)[];
  /** This worker's channel to the main thread: every message but ready, listening, failed, stopped. */
  back: SharedArrayBuffer;
  /** Bans in force when it starts (e.g. loaded from the cluster). */
  bans: Ban[];
  /** On a cluster node: the other nodes and their bindings as main sees them now. */
  cluster?: ClusterChange[];
  /** The process's per-source rate windows and connection counts (source_table.ts). */
  sources?: SharedArrayBuffer;
  /** The process's connection counter, so connection ids number opening order (flow_id.ts). */
  connectionCounter: SharedArrayBuffer;
  /** The process's count of API calls, bounded by `api.max_calls` (call_slots.ts). */
  callSlots: SharedArrayBuffer;
  /** The process's digest replay state (nonce_counts.ts): a nonce-count is used once in all. */
  nonceCounts: SharedArrayBuffer;
  /**
   * Whether this worker's location changes wake the main thread: only when main passes them
   * on at once (to the other worker threads' copies, or to a cluster). Otherwise main
   * applies them when it next reads (before each message it handles, each read of its
   * location table, each API request's sync, else within `LAZY_MS`).
   */
  bindingsWake: boolean;
}

/**
 * Bytes for worker `to`: a message of a call it owns, or a send on a flow it holds. A stream
 * flow the reader was sent before crosses as its number alone (flow_refs.ts).
 */
export interface Relay {
  t: "sip" | "send";
  to: number;
  bytes: Uint8Array;
  /** The flow, when it crosses whole (its first relay to this reader, or UDP). */
  flow?: Flow;
  /** The flow's number among those this writer sent the reader (flow_refs.ts). */
  ref?: number;
}

export interface CounterDelta {
  name: string;
  labels: Record<string, string>;
  by: number;
}

export type ToWorker =
  | { t: "init"; setup: WorkerSetup; config: Config }
  | Relay
  | { t: "binding"; change: LocationRecord }
  | { t: "flow"; flow: Flow; open: boolean }
  | { t: "accounts" }
  | { t: "websockets"; enabled: boolean }
  | { t: "accepting"; accepting: boolean }
  /** An operator's ping or close of a connection this worker holds (`GET /ws` lists it). */
  | { t: "conn"; id: string; op: "ping" | "probe" | "close"; close?: CloseArgs }
  | { t: "abuse"; change: BanChange }
  /** A change of main's view of the other cluster nodes (cluster_view.ts). */
  | { t: "cluster"; change: ClusterChange }
  /** The API acts on a call this worker holds (`CallControl.elsewhere`). */
  | { t: "call"; id: number; action: CallAction; args: unknown[] }
  /** The control server's word on an inbound call this worker asked about. */
  | { t: "decided"; id: number; decision?: Decision }
  | { t: "reload"; config: Config }
  | { t: "stop"; graceMs: number }
  /**
   * Open the stream listeners (once every worker is ready: server.ts), then count the try
   * in `tried` (an Int32Array's buffer, notified) and answer listening or failed.
   */
  | { t: "listen"; tried: SharedArrayBuffer }
  /** Report counters and connections now, then `synced` (the API reads exact figures). */
  | { t: "sync"; id: number }
  /** Refuse new dialogs, finish the calls being set up (at most `graceMs`), then `synced`. */
  | { t: "drain"; id: number; graceMs: number };

export type FromWorker =
  | Relay
  | { t: "called"; id: number; value?: unknown; refusal?: CallRefusal }
  | { t: "conns"; snapshots: ConnectionSnapshot[] }
  | { t: "decide"; id: number; info: InboundInfo }
  | { t: "binding"; change: LocationRecord }
  | { t: "flow"; flow: Flow; open: boolean }
  | { t: "counters"; deltas: CounterDelta[] }
  /**
   * A digest outcome: the main thread counts every worker's failures in one place; `bans`:
   * this failure banned the address (the worker saw it in the process's source table).
   */
  | { t: "auth"; ok: boolean; host: string; user: string; realm: string; bans?: true }
  | { t: "dialog"; view: DialogView }
  | { t: "event"; event: SipwsEvent }
  | { t: "synced"; id: number }
  | { t: "ready" }
  | { t: "listening" }
  | { t: "failed"; message: string }
  | { t: "stopped" };

/**
 * Events a worker reports to the main thread as they are. Registrations are reported by
 * main's copy of the location table, dialogs by main's tracker when it takes their views.
 */
export const FORWARDED_EVENTS = [
  "flow.opened",
  "flow.closed",
  // A worker's WebSocket close: main emits it and tells the domains' control servers.
  "ws.closed",
  "auth.failed",
  "call.event",
] as const;
