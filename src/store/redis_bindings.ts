/**
 * @module The cluster's registrations and members in Redis: per AOR one hash
 * `sipws:reg:<aor>` (binding key → record JSON; its flow names the owning node; the
 * hash expires with its last binding), one PUBLISH per batch on `sipws:reg` so every node
 * keeps a copy, and per node a heartbeat key `sipws:node:<id>` with a short TTL plus the
 * set `sipws:nodes` of every node seen. It moves plain records; what they mean for
 * routing, and who cleans up after a dead node, is decided in core.
 */
import type { Redis } from "ioredis";
import type { StoredBinding } from "./binding_store.ts";
import { PREFIX, type RedisLink, scanKeys } from "./redis_client.ts";

const REG = `${PREFIX}reg:`;
const CHANNEL = `${PREFIX}reg`;
const NODE = `${PREFIX}node:`;
const NODES = `${PREFIX}nodes`;
const REAP = `${PREFIX}reap:`;
const DIALOGS = `${PREFIX}dialogs:`;
const COMMANDS = `${PREFIX}reg:commands`;

/**
 * A binding as the cluster shares it: the stored record, whose flow's `owner.node` is the
 * node that owns the binding (and its connection, if any).
 */
export type ClusterRecord = StoredBinding;

/** One batch of changes as published to the other nodes (empty: a node says hello). */
export interface ClusterBatch {
  node: string;
  /** The sender's heartbeat record: a batch is proof of life, known before the next check. */
  info: NodeInfo;
  put: ClusterRecord[];
  remove: { aor: string; key: string }[];
}

/** An operator's removal of a binding, sent to the node that owns it. */
export interface RemoveCommand {
  node: string;
  aor: string;
  key: string;
}

/** What a heartbeat says about a node. */
export interface NodeInfo {
  id: string;
  advertise: string;
  startedAt: number;
}

export class RedisBindings {
  #link: RedisLink;

  constructor(link: RedisLink) {
    this.#link = link;
  }

  get up(): boolean {
    return this.#link.up;
  }

  /** Called each time Redis is reachable again after an outage. */
  onReconnect(callback: () => void): void {
    this.#link.onReconnect(callback);
  }

  /** Every binding in Redis (SCAN, then one pipelined HGETALL per batch of AORs). */
  async loadAll(): Promise<ClusterRecord[]> {
    const client = this.#link.client;
    const out: ClusterRecord[] = [];
    await scanKeys(client, `${REG}*`, async (keys) => {
      const pipeline = client.pipeline();
      for (const key of keys) pipeline.hgetall(key);
      for (const [error, hash] of (await pipeline.exec()) ?? []) {
        if (error) throw error;
        for (const text of Object.values(hash as Record<string, string>)) {
          out.push(JSON.parse(text));
        }
      }
    });
    return out;
  }

  /**
   * Writes a batch in one pipelined round trip: HSET + expiry per put, HDEL per removal,
   * one PUBLISH for the other nodes. Rejects when Redis is unreachable.
   */
  async write(batch: ClusterBatch): Promise<void> {
    if (!this.#link.up) throw new Error("Redis unreachable");
    const p = this.#link.client.pipeline();
    for (const r of batch.remove) p.hdel(REG + r.aor, r.key);
    for (const record of batch.put) {
      const key = REG + record.aor;
      p.hset(key, record.key, JSON.stringify(record));
      // The hash lives as long as its longest binding (NX: first expiry, GT: a later one).
      p.pexpireat(key, record.expiresAt, "NX");
      p.pexpireat(key, record.expiresAt, "GT");
    }
    p.publish(CHANNEL, JSON.stringify(batch));
    for (const [error] of (await p.exec()) ?? []) if (error) throw error;
  }

  /**
   * Calls `onBatch` for every batch another node publishes, and `onRemove` for every
   * removal asked of this node.
   */
  async follow(
    self: string,
    onBatch: (batch: ClusterBatch) => void,
    onRemove: (command: RemoveCommand) => void,
  ): Promise<Redis> {
    const sub = this.#link.subscriber();
    sub.on("message", (channel: string, text: string) => {
      try {
        if (channel === COMMANDS) {
          const command = JSON.parse(text) as RemoveCommand;
          if (command.node === self) onRemove(command);
          return;
        }
        const batch = JSON.parse(text) as ClusterBatch;
        if (batch.node !== self) onBatch(batch);
      } catch {
        // Not ours to parse: ignored.
      }
    });
    await sub.subscribe(CHANNEL, COMMANDS);
    return sub;
  }

  /** Asks the owning node to remove a binding (it announces the removal as usual). */
  async askRemove(command: RemoveCommand): Promise<void> {
    await this.#link.client.publish(COMMANDS, JSON.stringify(command));
  }

  /**
   * Refreshes this node's heartbeat (`ttlMs`) and its membership; a (re)started node also
   * lifts the claim on cleaning up after its previous run, so its next death is handled.
   */
  async heartbeat(info: NodeInfo, ttlMs: number, first = false): Promise<void> {
    const p = this.#link.client.pipeline()
      .set(NODE + info.id, JSON.stringify(info), "PX", ttlMs)
      .sadd(NODES, info.id);
    if (first) p.del(REAP + info.id);
    for (const [error] of (await p.exec()) ?? []) if (error) throw error;
  }

  /** This node's dialog list (views as JSON), living `ttlMs` unless written again. */
  async shareDialogs(node: string, json: string, ttlMs: number): Promise<void> {
    await this.#link.client.set(DIALOGS + node, json, "PX", ttlMs);
  }

  /** The dialog lists the given nodes shared (absent: none or expired). */
  async dialogs(nodes: string[]): Promise<Map<string, unknown[]>> {
    const out = new Map<string, unknown[]>();
    if (nodes.length === 0) return out;
    const lists = await this.#link.client.mget(nodes.map((n) => DIALOGS + n));
    nodes.forEach((n, i) => lists[i] && out.set(n, JSON.parse(lists[i]!)));
    return out;
  }

  /** A node stopping on purpose: its heartbeat goes now, so a survivor takes over at once. */
  async leave(id: string): Promise<void> {
    await this.#link.client.del(NODE + id);
  }

  /** Every node ever seen, with its heartbeat when it is alive. */
  async nodes(): Promise<Map<string, NodeInfo | undefined>> {
    const client = this.#link.client;
    const ids = await client.smembers(NODES);
    const out = new Map<string, NodeInfo | undefined>();
    if (ids.length === 0) return out;
    const beats = await client.mget(ids.map((id) => NODE + id));
    ids.forEach((id, i) => out.set(id, beats[i] ? JSON.parse(beats[i]!) : undefined));
    return out;
  }

  /**
   * Claims the clean-up after a dead node: true for exactly one caller cluster-wide, which
   * then removes its bindings; the node leaves the member set until it beats again.
   */
  async claimReap(node: string): Promise<boolean> {
    const claimed = await this.#link.client.set(REAP + node, "1", "PX", 86_400_000, "NX");
    if (claimed === "OK") await this.#link.client.srem(NODES, node);
    return claimed === "OK";
  }
}
