/**
 * @module This node's part in a cluster sharing registrations through Redis. It copies
 * every change of the local location service to Redis after the answer is sent (one
 * pipelined round trip per batch; queued and written back while Redis is down), keeps a
 * copy of the other nodes' bindings from their published batches, and beats a heartbeat.
 * When a node's heartbeat lapses, exactly one survivor (a Redis claim) cleans up after
 * it: bindings reachable without their connection (UDP, TCP/TLS with an address Contact)
 * are adopted, flow-bound ones are removed with one `registration.removed` each (so one
 * DELETE callback cluster-wide). What it learns of the other nodes goes into its
 * `ClusterView` (cluster_view.ts), each change also handed to `observe`rs (the SIP worker
 * threads' copies). Routing to a binding owned elsewhere is decided in proxy_targets.ts
 * with the view's `relayRoute`.
 */
import type { DialogView, EventBus } from "../events.ts";
import { Logger } from "../log.ts";
import type {
  ClusterBatch,
  ClusterRecord,
  NodeInfo,
  RedisBindings,
} from "../store/redis_bindings.ts";
import { restorable, toStored } from "./binding_journal.ts";
import { type Binding, type LocationService, viewOf } from "./location.ts";
import type { FlowOwner } from "../transport/types.ts";
import type { StoredBinding } from "../store/binding_store.ts";
import { type ClusterChange, ClusterView, ownerNode, toBinding } from "./cluster_view.ts";

const log = new Logger("cluster");

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
  /** The other nodes' bindings and heartbeats (its flow names a binding's owner). */
  readonly view: ClusterView;
  #observers: ((change: ClusterChange) => void)[] = [];
  #pending = new Map<string, Change>();
  #flushScheduled = false;
  #writing = false;
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
    this.view = new ClusterView(this.id);
  }

  /**
   * Told of every change to the view after it was applied here (the workers' copies);
   * returns the call that stops it.
   */
  observe(observer: (change: ClusterChange) => void): () => void {
    this.#observers.push(observer);
    return () => this.#observers = this.#observers.filter((o) => o !== observer);
  }

  #change(change: ClusterChange): void {
    this.view.apply(change, this.#deps.location);
    for (const observe of this.#observers) observe(change);
  }

  #delete(aor: string, key: string): void {
    this.#change({ op: "delete", aor, key });
  }

  get redisUp(): boolean {
    return this.#deps.bindings.up;
  }

  /** Nodes seen in Redis: id → heartbeat (undefined: lapsed, not yet cleaned up). */
  get nodes(): ReadonlyMap<string, NodeInfo | undefined> {
    return this.view.nodes;
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
    this.#change({ op: "replace", records });
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
    return this.view.owns(binding);
  }

  /** Live bindings of `aor` owned by other nodes. */
  lookup(aor: string): Binding[] {
    return this.view.lookup(aor);
  }

  /** Every live binding owned by other nodes (views). */
  all(): Binding[] {
    return this.view.all();
  }

  /** The live binding of another node an id names (see `bindingId`). */
  byId(id: string): Binding | undefined {
    return this.view.byId(id);
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
  relayRoute(binding: Binding): ReturnType<ClusterView["relayRoute"]> {
    return this.view.relayRoute(binding);
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
      if (!this.view.nodes.get(node)) continue;
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
      const others = [...this.view.nodes.keys()].filter((n) => n !== this.id);
      this.#remoteDialogs = await bindings.dialogs(others) as Map<string, DialogView[]>;
    } catch {
      // Redis went away meanwhile: the next second tries again.
    }
  }

  /** True when `host` is the address of a live node (a relayed request may come from it). */
  isPeer(host: string): boolean {
    return this.view.isPeer(host);
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

  #apply(batch: ClusterBatch): void {
    const known = this.view.nodes.get(batch.node);
    if (batch.info?.id === batch.node && known?.startedAt !== batch.info.startedAt) {
      this.#change({ op: "nodes", nodes: [...this.view.nodes, [batch.node, batch.info]] });
    }
    for (const r of batch.remove) this.#delete(r.aor, r.key);
    // The phone registered through another node since: that node owns it now (see apply).
    for (const record of batch.put) this.#change({ op: "set", record });
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
      this.#change({ op: "replace", records: await this.#deps.bindings.loadAll() });
    } catch (error) {
      log.warn(`rejoining the cluster after a Redis outage failed: ${String(error)}`);
    }
  }

  async #checkNodes(): Promise<void> {
    if (this.#closed || !this.#deps.bindings.up) return;
    try {
      this.#change({ op: "nodes", nodes: [...await this.#deps.bindings.nodes()] });
      for (const [id, info] of this.view.nodes) {
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
      const binding = restorable(record);
      if (binding) {
        // Ours now: its flow is re-owned (a UDP one goes out of our socket, a TCP/TLS one
        // is reached anew at its Contact, as the id names no connection of ours).
        binding.flow = { ...binding.flow, owner: this.owner };
        this.#change({ op: "adopted", binding });
        this.#queue(binding, "saved");
        continue;
      }
      this.#delete(record.aor, record.key);
      const gone = toBinding(record);
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
