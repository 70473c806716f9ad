/**
 * @module The dashboard's data contract: a `DashboardSource` yields point-in-time
 * snapshots (header facts, registrations, dialogs, WebSocket connections) and carries out
 * the operator's actions (close or ping a connection, disable or enable new WebSocket
 * handshakes, remove a registration). Two
 * implementations exist, in-process (local_source.ts) and over the HTTP API
 * (remote_source.ts), so one UI serves both. Types only; no I/O and no React here.
 */
import type { BanView, DialogView } from "../events.ts";

/** One contact binding as the Registrations pane shows it. */
export interface RegistrationRow {
  /** Stable identity of the binding within the source (selection, removal). */
  id: string;
  aor: string;
  domain: string;
  user: string;
  /** The registered Contact URI; undefined when the source cannot tell (remote). */
  contact?: string;
  transport: string;
  /** `host:port` the REGISTER came from. */
  remote: string;
  userAgent?: string;
  /** Epoch ms; undefined when unknown. */
  expiresAt?: number;
  outstandingPings: number;
  /** In a cluster: the node the binding is registered on. */
  node?: string;
}

/** One stream connection as the WebSocket pane shows it. */
export interface ConnectionRow {
  id: string;
  transport: string;
  remote: string;
  origin?: string;
  /** Epoch ms. */
  openedAt: number;
  messagesIn: number;
  messagesOut: number;
  /** Epoch ms of the last message either way. */
  lastActivity: number;
  /** AORs registered over this connection. */
  aors: string[];
  /** Bytes waiting to be written. */
  queued: number;
}

/** Monotonic totals the header turns into rates. */
export interface CounterTotals {
  messagesIn: number;
  messagesOut: number;
  authFailures: number;
  parseErrors: number;
  /** Requests refused or dropped by the per-source rate limit. */
  rateLimited: number;
}

/** Everything one frame needs, read at `takenAt`. */
export interface DashboardSnapshot {
  /** Epoch ms when the snapshot was read. */
  takenAt: number;
  /** Server version, when the source knows it. */
  version?: string;
  /** Epoch ms the server started. */
  startedAt: number;
  /** Listening transports, e.g. `{transport: "udp", address: "127.0.0.1:5060"}`. */
  listening: { transport: string; address: string }[];
  counters: CounterTotals;
  /** Total bindings (may exceed `registrations.length` when the source cannot list all). */
  registrationCount: number;
  registrations: RegistrationRow[];
  dialogs: DialogView[];
  connections: ConnectionRow[];
  /** Source addresses banned now ([abuse]), soonest to end first. */
  bans: BanView[];
  /** Accepting SIP (SIPWS protocol start/stop). */
  accepting: boolean;
  /** False while new WebSocket handshakes are refused (POST /ws/disable). */
  webSocketsEnabled: boolean;
}

export interface DashboardSource {
  /** Where the data comes from, for the header: "local" or the API base URL. */
  readonly origin: string;
  /** Polling period that suits the source, ms. */
  readonly pollMs: number;
  snapshot(): Promise<DashboardSnapshot>;
  closeConnection(id: string): Promise<void>;
  pingConnection(id: string): Promise<void>;
  /** Refuse (false) or accept again (true) new WebSocket handshakes. */
  setWebSocketsEnabled(enabled: boolean): Promise<void>;
  removeRegistration(row: RegistrationRow): Promise<void>;
  /** Lifts the ban on `address` (as `DELETE /bans/{address}`). */
  liftBan(address: string): Promise<void>;
}
