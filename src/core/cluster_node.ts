/**
 * @module This node's part in a cluster sharing registrations through Redis. It copies
 * every change of the local location service to Redis after the answer is sent (one
 * pipelined round trip per batch; queued and written back while Redis is down), keeps a
 * copy of the other nodes' bindings from their published batches, and beats a heartbeat.
 * When a node's heartbeat lapses, exactly one survivor (a Redis claim) cleans up after
 * it: bindings reachable without their connection (UDP, TCP/TLS with an address Contact)
 * are adopted, flow-bound ones are removed with one `registration.removed` each (so one
 * DELETE callback cluster-wide). Routing to a binding owned elsewhere is decided in
 * proxy_targets.ts with `relayRoute`.
 */
import type { DialogView, EventBus } from "../events.ts";
import { Logger } from "../log.ts";
import { parseUri } from "../sip/uri.ts";
import type {
  ClusterBatch,
  ClusterRecord,
  NodeInfo,
  RedisBindings,
} from "../store/redis_bindings.ts";
import { restorable, toStored } from "./binding_journal.ts";
import { type Binding, bindingId, type LocationService, viewOf } from "./location.ts";
import { addressOf, contactFields } from "./binding.ts";
import type { FlowOwner } from "../transport/types.ts";
import type { StoredBinding } from "../store/binding_store.ts";

const log = new Logger("cluster");

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

export interface ClusterDeps {
  /** This node as flows name their owner: its `node` is the cluster node id. */
  owner: FlowOwner;
  /** SIP URI the other nodes relay to. */
  advertise: string;
  bindings: RedisBindings;
  location: LocationService;
  events: EventBus;
  heartbeatTtlMs: number;
}

type Change = ClusterRecord | { aor: string; key: string; removed: true };

export class ClusterNode {
  readonly id: string;
  /** The owner of this node's flows (the transport layer names its flows after it). */
  readonly owner: FlowOwner;
  readonly advertise: string;
  readonly startedAt = Date.now();
  #deps: ClusterDeps;
  /** The other nodes' bindings: aor → key → binding (its flow names the owning node). */
  #remote = new Map<string, Map<string, Binding>>();
  #pending = new Map<string, Change>();
  #flushScheduled = false;
  #writing = false;
  #nodes = new Map<string, NodeInfo | undefined>();
  #timers: ReturnType<typeof setInterval>[] = [];
  #unobserve?: () => void;
  #closed = false;
  /** No node is declared dead before this (set after a Redis outage). */
  #reapAfter = 0;
  #dialogSource?: () => DialogView[];
  #sharedDialogs = "";
  #sharedAt = 0;
  #remoteDialogs = new Map<string, DialogView[]>();
  #previousRun: ClusterRecord[] = [];

  constructor(deps: ClusterDeps) {
    this.#deps = deps;
    this.owner = deps.owner;
    this.id = deps.owner.node;
    this.advertise = deps.advertise;
  }

  get redisUp(): boolean {
    return this.#deps.bindings.up;
  }

  /** Nodes seen in Redis: id → heartbeat (undefined: lapsed, not yet cleaned up). */
  get nodes(): ReadonlyMap<string, NodeInfo | undefined> {
    return this.#nodes;
  }

  async start(): Promise<void> {
    const { bindings, location } = this.#deps;
    await bindings.heartbeat(this.#info(), this.#deps.heartbeatTtlMs, true);
    await bindings.follow(this.id, (batch) => this.#apply(batch), (command) => {
      const binding = this.#deps.location.get(command.aor, command.key);
      if (binding) this.#deps.location.remove(binding, "admin");
    });
    // Hello: the others learn our advertise URI now, not at their next membership check.
    await bindings.write({ node: this.id, info: this.#info(), put: [], remove: [] });
    const records = await bindings.loadAll();
    this.#replace(records);
    // What Redis still holds of our previous run: its connections are gone (see serving()).
    this.#previousRun = records.filter((r) => ownerNode(r) === this.id);
    this.#unobserve = location.observe((binding, change) => {
      // Registered here now: another node's copy of the same registration is stale.
      if (change === "saved") this.#delete(binding.aor, binding.key);
      this.#queue(binding, change);
    });
    bindings.onReconnect(() => void this.#rejoin());
    const beat = Math.max(500, Math.floor(this.#deps.heartbeatTtlMs / 3));
    this.#timers.push(setInterval(() => this.#beat(), beat));
    this.#timers.push(setInterval(() => this.#checkNodes(), 1000));
    await this.#checkNodes();
  }

  /**
   * The server is up with its control callbacks listening: what Redis kept of our previous
   * run is taken over now (reachable bindings kept, flow-bound ones removed with their
   * DELETE callback), as a survivor would after a crash.
   */
  serving(): void {
    const previous = this.#previousRun.splice(0);
    if (previous.length > 0) this.#takeOver(previous);
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

  /**
   * An operator removes a binding of another node: the owner is asked to (its removal
   * then reaches every node as usual); it leaves our view at once. False while Redis is
   * unreachable.
   */
  removeRemote(binding: Binding): boolean {
    const node = ownerNode(binding);
    if (!node || this.owns(binding) || !this.#deps.bindings.up) return false;
    this.#delete(binding.aor, binding.key);
    const command = { node, aor: binding.aor, key: binding.key };
    this.#deps.bindings.askRemove(command).catch(() => {});
    return true;
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

  /** Shares this node's dialogs with the others (every second, when they change). */
  shareDialogs(source: () => DialogView[]): void {
    this.#dialogSource = source;
    this.#timers.push(setInterval(() => this.#syncDialogs(), 1000));
  }

  /** The other nodes' dialogs as they shared them (at most a second or two old). */
  otherDialogs(): (DialogView & { node: string })[] {
    const out: (DialogView & { node: string })[] = [];
    for (const [node, list] of this.#remoteDialogs) {
      if (!this.#nodes.get(node)) continue;
      for (const d of list) out.push({ ...d, node });
    }
    return out;
  }

  async #syncDialogs(): Promise<void> {
    const { bindings, heartbeatTtlMs } = this.#deps;
    if (this.#closed || !bindings.up || !this.#dialogSource) return;
    try {
      const json = JSON.stringify(this.#dialogSource());
      // Written when it changed, and before it would expire.
      if (json !== this.#sharedDialogs || Date.now() - this.#sharedAt > heartbeatTtlMs / 3) {
        await bindings.shareDialogs(this.id, json, heartbeatTtlMs);
        this.#sharedDialogs = json;
        this.#sharedAt = Date.now();
      }
      const others = [...this.#nodes.keys()].filter((n) => n !== this.id);
      this.#remoteDialogs = await bindings.dialogs(others) as Map<string, DialogView[]>;
    } catch {
      // Redis went away meanwhile: the next second tries again.
    }
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

  /**
   * Leaves the cluster: stops copying (the connections about to close keep their
   * bindings in Redis), writes what is queued and drops the heartbeat, so a survivor
   * takes over at once as it would after a crash.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#unobserve?.();
    for (const t of this.#timers) clearInterval(t);
    await this.#flush();
    await this.#deps.bindings.leave(this.id).catch(() => {});
  }

  #info(): NodeInfo {
    return { id: this.id, advertise: this.advertise, startedAt: this.startedAt };
  }

  // --- local changes → Redis ---

  #record(binding: Binding): ClusterRecord {
    return toStored(binding);
  }

  #queue(binding: Binding, change: "saved" | "removed"): void {
    const id = `${binding.aor}\0${binding.key}`;
    this.#pending.set(
      id,
      change === "saved"
        ? this.#record(binding)
        : { aor: binding.aor, key: binding.key, removed: true },
    );
    // After the current task (the REGISTER's 200 goes out first), one pipeline per batch.
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setTimeout(() => {
        this.#flushScheduled = false;
        void this.#flush();
      }, 0);
    }
  }

  async #flush(): Promise<void> {
    if (this.#writing || this.#pending.size === 0 || !this.#deps.bindings.up) return;
    this.#writing = true;
    const changes = [...this.#pending.entries()];
    this.#pending.clear();
    const batch: ClusterBatch = { node: this.id, info: this.#info(), put: [], remove: [] };
    for (const [, c] of changes) {
      if ("removed" in c) batch.remove.push({ aor: c.aor, key: c.key });
      else batch.put.push(c);
    }
    try {
      await this.#deps.bindings.write(batch);
    } catch (error) {
      log.warn(`${changes.length} registration changes kept for Redis: ${String(error)}`);
      for (const [id, c] of changes) if (!this.#pending.has(id)) this.#pending.set(id, c);
    } finally {
      this.#writing = false;
    }
    if (this.#pending.size > 0 && !this.#closed) setTimeout(() => void this.#flush(), 0);
  }

  // --- other nodes' changes → our copy ---

  #toBinding(record: ClusterRecord): Binding | undefined {
    try {
      const contact = contactFields(record.contact, parseUri(record.contact), record);
      return { ...record, ...contact, outstandingPings: 0 };
    } catch {
      return undefined;
    }
  }

  #set(record: ClusterRecord): void {
    const binding = this.#toBinding(record);
    if (!binding) return;
    let map = this.#remote.get(record.aor);
    if (!map) this.#remote.set(record.aor, map = new Map());
    map.set(record.key, binding);
  }

  #delete(aor: string, key: string): Binding | undefined {
    const map = this.#remote.get(aor);
    const binding = map?.get(key);
    map?.delete(key);
    if (map?.size === 0) this.#remote.delete(aor);
    return binding;
  }

  #apply(batch: ClusterBatch): void {
    if (batch.info?.id === batch.node) this.#nodes.set(batch.node, batch.info);
    for (const r of batch.remove) this.#delete(r.aor, r.key);
    for (const record of batch.put) {
      if (this.owns(record)) {
        this.#delete(record.aor, record.key);
        continue;
      }
      this.#set(record);
      // The phone registered through another node since: that node owns it now.
      const mine = this.#deps.location.get(record.aor, record.key);
      if (mine && mine.registeredAt <= record.registeredAt) this.#deps.location.forget(mine);
    }
  }

  #replace(records: ClusterRecord[]): void {
    this.#remote.clear();
    for (const r of records) if (!this.owns(r)) this.#set(r);
  }

  // --- membership and clean-up after dead nodes ---

  async #beat(): Promise<void> {
    if (this.#closed || !this.#deps.bindings.up) return;
    try {
      await this.#deps.bindings.heartbeat(this.#info(), this.#deps.heartbeatTtlMs);
      if (this.#pending.size > 0) await this.#flush();
    } catch {
      // Redis went away between the check and the write: the next beat retries.
    }
  }

  /**
   * Redis is back after an outage: every heartbeat may have lapsed meanwhile, the living
   * nodes' included, so nobody is declared dead until each had a heartbeat period to beat
   * again; our bindings are written again (with what we queued), and our copy, which
   * missed the other nodes' batches, is read again.
   */
  async #rejoin(): Promise<void> {
    if (this.#closed) return;
    this.#reapAfter = Date.now() + this.#deps.heartbeatTtlMs;
    try {
      await this.#deps.bindings.heartbeat(this.#info(), this.#deps.heartbeatTtlMs);
      // All of ours again: a Redis restarted without its data must not lose them.
      for (const binding of this.#deps.location.all()) this.#queue(binding, "saved");
      await this.#flush();
      this.#replace(await this.#deps.bindings.loadAll());
    } catch (error) {
      log.warn(`rejoining the cluster after a Redis outage failed: ${String(error)}`);
    }
  }

  async #checkNodes(): Promise<void> {
    if (this.#closed || !this.#deps.bindings.up) return;
    try {
      this.#nodes = await this.#deps.bindings.nodes();
      for (const [id, info] of this.#nodes) {
        if (info || id === this.id || Date.now() < this.#reapAfter) continue;
        if (!await this.#deps.bindings.claimReap(id)) continue;
        const records = (await this.#deps.bindings.loadAll()).filter((r) => ownerNode(r) === id);
        log.warn(`node ${id} is gone: taking over ${records.length} registrations`);
        this.#takeOver(records);
      }
    } catch (error) {
      log.debug(`node check failed: ${String(error)}`);
    }
  }

  /**
   * Bindings of a node that is gone (or of our own previous run): reachable ones become
   * ours, flow-bound ones are removed cluster-wide, each announced once from here.
   */
  #takeOver(records: ClusterRecord[]): void {
    for (const record of records) {
      this.#delete(record.aor, record.key);
      const binding = restorable(record);
      if (binding) {
        // Ours now: its flow is re-owned (a UDP one goes out of our socket, a TCP/TLS one
        // is reached anew at its Contact, as the id names no connection of ours).
        binding.flow = { ...binding.flow, owner: this.owner };
        this.#deps.location.restore(binding);
        this.#queue(binding, "saved");
        continue;
      }
      const gone = this.#toBinding(record);
      this.#pending.set(`${record.aor}\0${record.key}`, {
        aor: record.aor,
        key: record.key,
        removed: true,
      });
      if (gone) {
        this.#deps.events.emit({
          type: "registration.removed",
          binding: { ...viewOf(gone), node: ownerNode(record) },
          cause: "flow_closed",
        });
      }
    }
    void this.#flush();
  }
}
