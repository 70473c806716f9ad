/**
 * @module What one thread knows of the other nodes of a cluster: their bindings (by AOR
 * and key) and their heartbeats, changed only through `apply`. The main thread's
 * `ClusterNode` keeps one from Redis and hands every change to the SIP worker threads,
 * which keep a copy each, so a call arriving at any worker finds a binding of any node
 * and relays to its owner. Pure data and routing facts; no I/O.
 */
import { parseUri } from "../sip/uri.ts";
import type { ClusterRecord, NodeInfo } from "../store/redis_bindings.ts";
import type { StoredBinding } from "../store/binding_store.ts";
import { addressOf, type Binding, contactFields } from "./binding.ts";
import { bindingId, type LocationService } from "./location.ts";

/**
 * Route parameter of a request relayed to the node owning a binding: the binding's id.
 * The owner routes it as it would route to its own binding (its connection for browsers,
 * Outbound and live streams; the Contact address from its own socket otherwise).
 */
export const RELAY_TOKEN = "swr";

/** The node owning a binding: the one its flow lives on (flows name their owner). */
export function ownerNode(binding: StoredBinding): string | undefined {
  return binding.flow.owner?.node;
}

/** One change to a view, as it crosses from the main thread to the workers. */
export type ClusterChange =
  | { op: "set"; record: ClusterRecord }
  | { op: "delete"; aor: string; key: string }
  | { op: "replace"; records: ClusterRecord[] }
  | { op: "nodes"; nodes: [string, NodeInfo | undefined][] }
  /** A dead node's binding is this node's now (its flow re-owned). */
  | { op: "adopted"; binding: Binding };

/** A shared record as a binding (routing fields derived once); undefined when unusable. */
export function toBinding(record: ClusterRecord): Binding | undefined {
  try {
    const contact = contactFields(record.contact, parseUri(record.contact), record);
    return { ...record, ...contact, outstandingPings: 0 };
  } catch {
    return undefined;
  }
}

export class ClusterView {
  /** This node's id. */
  readonly id: string;
  /** aor → key → binding of another node. */
  #remote = new Map<string, Map<string, Binding>>();
  #nodes = new Map<string, NodeInfo | undefined>();

  constructor(id: string) {
    this.id = id;
  }

  /** Nodes seen in Redis: id → heartbeat (undefined: lapsed, not yet cleaned up). */
  get nodes(): ReadonlyMap<string, NodeInfo | undefined> {
    return this.#nodes;
  }

  /**
   * Applies a change; `location` (this thread's copy of the table) loses a binding another
   * node took over since (the phone registered there) and gains an adopted one.
   */
  apply(change: ClusterChange, location?: LocationService): void {
    switch (change.op) {
      case "set": {
        const { record } = change;
        if (this.owns(record)) return void this.#delete(record.aor, record.key);
        const binding = toBinding(record);
        if (!binding) return;
        let map = this.#remote.get(record.aor);
        if (!map) this.#remote.set(record.aor, map = new Map());
        map.set(record.key, binding);
        const mine = location?.get(record.aor, record.key);
        if (mine && mine.registeredAt <= record.registeredAt) location!.forget(mine);
        return;
      }
      case "delete":
        return void this.#delete(change.aor, change.key);
      case "replace":
        this.#remote.clear();
        for (const record of change.records) {
          if (!this.owns(record)) this.apply({ op: "set", record });
        }
        return;
      case "nodes":
        this.#nodes = new Map(change.nodes);
        return;
      case "adopted":
        this.#delete(change.binding.aor, change.binding.key);
        location?.restore(change.binding);
        return;
    }
  }

  #delete(aor: string, key: string): void {
    const map = this.#remote.get(aor);
    map?.delete(key);
    if (map?.size === 0) this.#remote.delete(aor);
  }

  /** True when `binding` is this node's (its flow lives here; hand-made flows count too). */
  owns(binding: StoredBinding): boolean {
    const node = ownerNode(binding);
    return node === undefined || node === this.id;
  }

  /** Live bindings of `aor` owned by other nodes. */
  lookup(aor: string): Binding[] {
    const now = Date.now();
    const out: Binding[] = [];
    for (const b of this.#remote.get(aor)?.values() ?? []) if (b.expiresAt > now) out.push(b);
    return out;
  }

  /** Every live binding owned by other nodes (views). */
  all(): Binding[] {
    const now = Date.now();
    const out: Binding[] = [];
    for (const map of this.#remote.values()) {
      for (const b of map.values()) if (b.expiresAt > now) out.push(b);
    }
    return out;
  }

  /** The live binding of another node an id names (see `bindingId`). */
  byId(id: string): Binding | undefined {
    return this.all().find((b) => bindingId(b) === id);
  }

  /** The Route that makes the owner of `binding` send a request on to it. */
  relayRoute(binding: Binding): { route: string; target: ReturnType<typeof addressOf> } {
    // Only a live owner can (a lapsed heartbeat has no entry).
    const node = ownerNode(binding);
    const advertise = node ? this.#nodes.get(node)?.advertise : undefined;
    if (!advertise) return { route: "", target: undefined };
    return {
      route: `<${advertise};lr;${RELAY_TOKEN}=${bindingId(binding)}>`,
      target: addressOf(parseUri(advertise)),
    };
  }

  /** True when `host` is the address of a live node (a relayed request may come from it). */
  isPeer(host: string): boolean {
    for (const [id, info] of this.#nodes) {
      if (id === this.id || !info) continue;
      try {
        if (parseUri(info.advertise).host === host) return true;
      } catch {
        // A node with a bad advertise URI is never trusted.
      }
    }
    return false;
  }
}
