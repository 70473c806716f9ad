/**
 * @module The stream connections this worker holds, by flow id and by remote address (so a
 * send to a peer reuses its connection), and the live connections other workers announce.
 */
import type { Connection } from "./connection.ts";
import type { Address, Flow, TransportName } from "./types.ts";

export class FlowTable {
  #connections = new Map<string, Connection>();
  /** "transport|host:port" → connection id, for reusing a connection to a peer. */
  #byRemote = new Map<string, string>();
  /** Live connections other workers hold, by flow id (see `live`). */
  #elsewhere = new Map<string, Flow>();

  add(connection: Connection): void {
    this.#connections.set(connection.flow.id, connection);
    this.#byRemote.set(
      remoteKey(connection.flow.transport, connection.flow.remote),
      connection.flow.id,
    );
  }

  /** False when the connection was not in the table (already removed). */
  remove(connection: Connection): boolean {
    if (!this.#connections.delete(connection.flow.id)) return false;
    const key = remoteKey(connection.flow.transport, connection.flow.remote);
    if (this.#byRemote.get(key) === connection.flow.id) this.#byRemote.delete(key);
    return true;
  }

  get(flowId: string): Connection | undefined {
    return this.#connections.get(flowId);
  }

  /** The open connection to `remote` over `transport`, to reuse. */
  toRemote(transport: TransportName, remote: Address): Connection | undefined {
    return this.#connections.get(this.#byRemote.get(remoteKey(transport, remote)) ?? "");
  }

  /** This worker's own connections. */
  own(): Connection[] {
    return [...this.#connections.values()];
  }

  /** A live flow by id: ours, or one another worker announced. */
  live(flowId: string): Flow | undefined {
    return this.#connections.get(flowId)?.flow ?? this.#elsewhere.get(flowId);
  }

  /** Another worker opened or closed a connection (its `announce`). */
  setElsewhere(flow: Flow, open: boolean): void {
    if (open) this.#elsewhere.set(flow.id, flow);
    else this.#elsewhere.delete(flow.id);
  }

  /** Connections other workers hold, as flows. */
  elsewhere(): Flow[] {
    return [...this.#elsewhere.values()];
  }
}

/** The key of a connection to a peer, shared by every transport (WS dialling included). */
export function remoteKey(transport: string, remote: Address): string {
  return `${transport}|${remote.host}:${remote.port}`;
}
