/**
 * @module The main thread's view of the connections other workers hold, so that `GET /ws`,
 * `/metrics` and the dashboard list every connection of the server: a mirror per
 * connection, created when its worker announces it, refreshed by the worker's snapshots
 * (every second, and before every API request: `WorkerPool.sync`) and dropped when it closes. Sending, pinging and closing go to the worker
 * holding the connection.
 */
import type { CloseInfo, CloseInitiator, Connection } from "../transport/connection.ts";
import type { ConnectionMirrors } from "../transport/layer.ts";
import type { Flow } from "../transport/types.ts";

/** What a worker reports of one of its connections. */
export interface ConnectionSnapshot {
  flow: Flow;
  openedAt: number;
  origin?: string;
  messagesIn: number;
  messagesOut: number;
  lastActivity: number;
  bytesIn?: number;
  bytesOut?: number;
  queued?: number;
}

export function snapshotOf(c: Connection): ConnectionSnapshot {
  return {
    flow: c.flow,
    openedAt: c.openedAt,
    origin: c.origin,
    messagesIn: c.messagesIn,
    messagesOut: c.messagesOut,
    lastActivity: c.lastActivity,
    bytesIn: c.bytesIn,
    bytesOut: c.bytesOut,
    queued: c.queued?.(),
  };
}

/** What a mirror asks of the connection's own worker. */
export interface MirrorLink {
  send(worker: number, bytes: Uint8Array, flow: Flow): void;
  control(worker: number, id: string, op: "ping" | "probe" | "close", close?: CloseArgs): void;
}

export interface CloseArgs {
  code?: number;
  reason?: string;
  by?: CloseInitiator;
}

class MirroredConnection implements Connection {
  readonly flow: Flow;
  openedAt: number;
  origin?: string;
  messagesIn = 0;
  messagesOut = 0;
  lastActivity: number;
  bytesIn?: number;
  bytesOut?: number;
  closeInfo?: CloseInfo;
  #queued?: number;
  #worker: number;
  #link: MirrorLink;

  constructor(worker: number, s: ConnectionSnapshot, link: MirrorLink) {
    this.#worker = worker;
    this.#link = link;
    this.flow = s.flow;
    this.openedAt = s.openedAt;
    this.lastActivity = s.lastActivity;
    this.update(s);
  }

  update(s: ConnectionSnapshot): void {
    this.openedAt = s.openedAt;
    // The announce knows only the flow: the worker's first snapshot brings the origin.
    this.origin = s.origin;
    this.messagesIn = s.messagesIn;
    this.messagesOut = s.messagesOut;
    this.lastActivity = s.lastActivity;
    this.bytesIn = s.bytesIn;
    this.bytesOut = s.bytesOut;
    this.#queued = s.queued;
  }

  queued(): number {
    return this.#queued ?? 0;
  }

  send(bytes: Uint8Array): Promise<void> {
    this.#link.send(this.#worker, bytes, this.flow);
    return Promise.resolve();
  }

  ping(): void {
    this.#link.control(this.#worker, this.flow.id, "ping");
  }

  /** The operator's ping, done by the worker as on its own connection (`operatorPing`). */
  probe(): void {
    this.#link.control(this.#worker, this.flow.id, "probe");
  }

  close(code?: number, reason?: string, by?: CloseInitiator): void {
    this.#link.control(this.#worker, this.flow.id, "close", { code, reason, by });
  }
}

export class Mirrors implements ConnectionMirrors {
  #byId = new Map<string, MirroredConnection>();
  #link: MirrorLink;

  constructor(link: MirrorLink) {
    this.#link = link;
  }

  /** A worker opened (or closed) a connection. */
  announced(worker: number, flow: Flow, open: boolean): void {
    if (!open) this.#byId.delete(flow.id);
    else if (!this.#byId.has(flow.id)) {
      const now = Date.now();
      this.#byId.set(
        flow.id,
        new MirroredConnection(worker, {
          flow,
          openedAt: now,
          messagesIn: 0,
          messagesOut: 0,
          lastActivity: now,
        }, this.#link),
      );
    }
  }

  /** A worker's current connections: mirrors refreshed (the announce created them). */
  refreshed(snapshots: ConnectionSnapshot[]): void {
    for (const s of snapshots) this.#byId.get(s.flow.id)?.update(s);
  }

  list(): Connection[] {
    return [...this.#byId.values()];
  }

  get(id: string): Connection | undefined {
    return this.#byId.get(id);
  }
}
