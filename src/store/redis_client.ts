/**
 * @module Connections to the cluster's Redis (npm `ioredis`): one for commands, one per
 * subscriber, all reconnecting forever with a capped backoff. It logs each outage once
 * (down, then back) and tells its owner, so the node can report health and write back
 * what it queued. Keys of every sipws structure start with `sipws:`.
 */
import type { Redis } from "ioredis";
import { Logger } from "../log.ts";

const log = new Logger("redis");

/** Every key and channel sipws uses in Redis starts with this. */
export const PREFIX = "sipws:";

/** The URL without its password, for logs and views. */
export function redactRedisUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, "//***@");
}

export interface RedisLink {
  readonly client: Redis;
  /** True while commands can be sent. */
  readonly up: boolean;
  /** A second connection for SUBSCRIBE (a subscribed connection sends nothing else). */
  subscriber(): Redis;
  /** Called each time the connection is (re)established, after the first. */
  onReconnect(callback: () => void): void;
  close(): void;
}

/** How to reach Redis beyond its URL. */
export interface RedisOptions {
  /** PEM CA certificate(s) that sign a `rediss://` server's certificate. */
  ca?: string;
}

/** ioredis, loaded with the first connection: a node without a cluster never needs it. */
type RedisClass = typeof import("ioredis").Redis;

function connect(Client: RedisClass, url: string, name: string, options: RedisOptions): Redis {
  return new Client(url, {
    // rediss:// turns TLS on; a private CA is added to the roots it is checked against.
    ...(options.ca && url.startsWith("rediss:") ? { tls: { ca: options.ca } } : {}),
    connectionName: name,
    // Retry forever, at most every 2 s: a node outlives a Redis restart.
    retryStrategy: (times: number) => Math.min(100 * times, 2000),
    // A command issued while down fails after one reconnect attempt instead of waiting.
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
  });
}

/** Opens the command connection and waits (at most `timeoutMs`) for it to be ready. */
export async function openRedis(
  url: string,
  name: string,
  options: RedisOptions = {},
  timeoutMs = 5000,
): Promise<RedisLink> {
  const { Redis: Client } = await import("ioredis");
  const client = connect(Client, url, name, options);
  const subscribers: Redis[] = [];
  const reconnects: (() => void)[] = [];
  let up = false;
  let everUp = false;
  client.on("ready", () => {
    up = true;
    if (everUp) {
      log.info(`Redis ${redactRedisUrl(url)} reachable again`);
      for (const callback of reconnects) callback();
    }
    everUp = true;
  });
  client.on("error", () => {/* reported once per outage by "close" below */});
  client.on("close", () => {
    if (up) log.error(`Redis ${redactRedisUrl(url)} unreachable: serving from local copies`);
    up = false;
  });
  try {
    await Promise.race([
      client.ping(),
      new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), timeoutMs)),
    ]);
  } catch (error) {
    client.disconnect();
    throw new Error(`cannot reach Redis ${redactRedisUrl(url)}: ${(error as Error).message}`);
  }
  up = true;
  everUp = true;
  return {
    client,
    get up() {
      return up;
    },
    subscriber() {
      const sub = connect(Client, url, `${name}-sub`, options);
      sub.on("error", () => {});
      subscribers.push(sub);
      return sub;
    },
    onReconnect(callback) {
      reconnects.push(callback);
    },
    close() {
      for (const sub of subscribers) sub.disconnect();
      client.disconnect();
    },
  };
}

/** Calls `batch` with each non-empty batch of keys matching `pattern` (SCAN, 500 a step). */
export async function scanKeys(
  client: Redis,
  pattern: string,
  batch: (keys: string[]) => Promise<void>,
): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await client.scan(cursor, "MATCH", pattern, "COUNT", 500);
    cursor = next;
    if (keys.length > 0) await batch(keys);
  } while (cursor !== "0");
}
