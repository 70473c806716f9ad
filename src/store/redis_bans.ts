/**
 * @module The cluster's abuse bans in Redis, so a ban holds on every node: one key per
 * banned address `sipws:ban:<address>` (the ban's JSON, expiring when the ban ends) for
 * nodes that join later, and one PUBLISH on `sipws:bans` per ban or lift for the nodes
 * running now. It moves plain records; deciding bans stays in the abuse guard.
 */
import type { Redis } from "ioredis";
import type { BanView } from "../events.ts";
import { PREFIX, type RedisLink, scanKeys } from "./redis_client.ts";

const BAN = `${PREFIX}ban:`;
const CHANNEL = `${PREFIX}bans`;

/** One change as published: a ban decided on `node`, or a ban lifted there. */
export type BanChange =
  | { node: string; ban: BanView }
  | { node: string; lifted: string };

export class RedisBans {
  #link: RedisLink;

  constructor(link: RedisLink) {
    this.#link = link;
  }

  /** Every ban in force (SCAN, then one MGET per batch). */
  async loadAll(): Promise<BanView[]> {
    const client = this.#link.client;
    const out: BanView[] = [];
    await scanKeys(client, `${BAN}*`, async (keys) => {
      for (const text of await client.mget(...keys)) if (text) out.push(JSON.parse(text));
    });
    return out;
  }

  /** Stores the ban until it ends and tells the other nodes. Rejects when Redis is down. */
  async ban(node: string, ban: BanView): Promise<void> {
    const ttl = Math.max(1, ban.until - Date.now());
    const change: BanChange = { node, ban };
    await this.#link.client.pipeline()
      .set(BAN + ban.address, JSON.stringify(ban), "PX", ttl)
      .publish(CHANNEL, JSON.stringify(change))
      .exec();
  }

  /** Removes the ban everywhere. Rejects when Redis is down. */
  async lift(node: string, address: string): Promise<void> {
    const change: BanChange = { node, lifted: address };
    await this.#link.client.pipeline()
      .del(BAN + address)
      .publish(CHANNEL, JSON.stringify(change))
      .exec();
  }

  /** Calls `onChange` for every change another node publishes. */
  async follow(self: string, onChange: (change: BanChange) => void): Promise<Redis> {
    const sub = this.#link.subscriber();
    sub.on("message", (channel: string, text: string) => {
      if (channel !== CHANNEL) return;
      try {
        const change = JSON.parse(text) as BanChange;
        if (change.node !== self) onChange(change);
      } catch {
        // Not ours to parse: ignored.
      }
    });
    await sub.subscribe(CHANNEL);
    return sub;
  }
}
