/**
 * @module Accounts shared by the nodes of a cluster, in Redis: hash `sipws:accounts`
 * (`domain NUL user` → account JSON with its HA1 digests), hash `sipws:domains` (domain →
 * entry JSON) and counter `sipws:accounts:version`. Every node keeps the whole table in
 * memory (reads never wait on Redis: a REGISTER checks its password locally). A change is
 * one MULTI (the change, the version bump, a PUBLISH on `sipws:accounts`), acknowledged
 * only after Redis ran it; every node reloads on that message, and after a reconnect in
 * case it missed one. While Redis is unreachable changes fail with
 * `StoreUnavailableError` (the API answers 503) and reads keep the last copy.
 */
import type { ChainableCommander } from "ioredis";
import {
  type Account,
  type AccountChange,
  type AccountInput,
  type AccountStore,
  type DomainEntry,
  StoreUnavailableError,
} from "./account.ts";
import {
  AccountIndex,
  IndexedAccountStore,
  normalizeDomain,
  resolveChanges,
  type ResolvedChange,
  resolveDomain,
  settled,
  type StoreOptions,
  toAccount,
  toDomainEntry,
} from "./account_index.ts";
import {
  openRedis,
  PREFIX,
  redactRedisUrl,
  type RedisLink,
  type RedisOptions,
} from "./redis_client.ts";

const ACCOUNTS = `${PREFIX}accounts`;
const DOMAINS = `${PREFIX}domains`;
const VERSION = `${PREFIX}accounts:version`;
const CHANNEL = `${PREFIX}accounts`;

const field = (domain: string, user: string) => `${domain}\0${user}`;

/** HSET KEYS[1] ARGV[1] ARGV[3] only while the field still holds ARGV[2]. */
const REPLACE_IF_SAME = `if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end return 0`;

export class RedisAccountStore extends IndexedAccountStore implements AccountStore {
  readonly kind = "redis" as const;
  readonly url: string;
  #link: RedisLink;
  #options: StoreOptions;
  #closed = false;
  /** Identifies our own PUBLISH, which needs no reload. */
  #self = crypto.randomUUID();
  /** Local changes made so far, and those Redis has not run yet (see reload). */
  #changes = 0;
  #inflight = 0;
  #writes: Promise<unknown> = Promise.resolve();
  onReloaded?: () => void;

  private constructor(url: string, link: RedisLink, options: StoreOptions) {
    super();
    this.url = url;
    this.#link = link;
    this.#options = options;
  }

  /** Connects, loads every account and follows changes made through any node. */
  static async open(
    url: string,
    options: StoreOptions,
    redis: RedisOptions = {},
  ): Promise<RedisAccountStore> {
    const link = await openRedis(url, "sipws-accounts", redis);
    const store = new RedisAccountStore(url, link, options);
    try {
      if (!options.storePlainPasswords) await store.#scrubPasswords();
      await store.reload();
    } catch (error) {
      link.close();
      throw error;
    }
    const sub = link.subscriber();
    sub.on("message", (_channel: string, sender: string) => {
      if (sender !== store.#self) store.#reloadQuietly();
    });
    // A message sent while our subscriber was down is lost: reload when it is back.
    let subscribed = false;
    sub.on("ready", () => subscribed && store.#reloadQuietly());
    await sub.subscribe(CHANNEL);
    subscribed = true;
    link.onReconnect(() => store.#reloadQuietly());
    return store;
  }

  /**
   * The operator no longer keeps plain passwords: those an earlier run (of any node) kept
   * leave Redis, the HA1s stay. Each record is rewritten only if unchanged since read (a
   * change made meanwhile wins); no registry change, so no version bump.
   */
  async #scrubPasswords(): Promise<void> {
    const accounts = await this.#run((m) => m.hgetall(ACCOUNTS)) as [Record<string, string>];
    const scrubbed: [string, string, string][] = [];
    for (const [key, text] of Object.entries(accounts[0])) {
      const account = JSON.parse(text) as Partial<Account>;
      if (account.password === undefined) continue;
      delete account.password;
      scrubbed.push([key, text, JSON.stringify(account)]);
    }
    if (scrubbed.length === 0) return;
    await this.#run((m) => {
      for (const [key, old, now] of scrubbed) m.eval(REPLACE_IF_SAME, 1, ACCOUNTS, key, old, now);
      return m;
    });
  }

  #reloadQuietly(): void {
    if (this.#closed) return;
    this.reload().then(
      () => this.onReloaded?.(),
      () => {/* the next message or reconnect retries */},
    );
  }

  /**
   * Replaces the local copy with Redis's table. A snapshot read while a change of ours
   * was applied locally but not yet run by Redis would undo it: read again after it.
   */
  async reload(): Promise<void> {
    for (;;) {
      const changes = this.#changes;
      const [accounts, domains, version] = await this.#run((m) =>
        m.hgetall(ACCOUNTS).hgetall(DOMAINS).get(VERSION)
      ) as [Record<string, string>, Record<string, string>, string | null];
      if (changes !== this.#changes || this.#inflight > 0) {
        await this.#writes;
        continue;
      }
      const index = new AccountIndex();
      for (const text of Object.values(domains)) index.setDomain(toDomainEntry(JSON.parse(text)));
      for (const text of Object.values(accounts)) {
        index.put(toAccount(JSON.parse(text), this.#options));
      }
      index.version = Number(version ?? 0);
      this.index = index;
      return;
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new StoreUnavailableError("the account store is closed");
  }

  #checkUp(): void {
    this.#checkOpen();
    if (!this.#link.up) {
      throw new StoreUnavailableError(
        `Redis ${redactRedisUrl(this.url)} is unreachable: account changes wait for it`,
      );
    }
  }

  /** Runs a pipeline (MULTI when `atomic`) and returns each command's result. */
  async #run(build: (m: ChainableCommander) => ChainableCommander, atomic = false) {
    this.#checkUp();
    const client = this.#link.client;
    let results;
    try {
      results = await build(atomic ? client.multi() : client.pipeline()).exec();
    } catch (error) {
      throw new StoreUnavailableError(`Redis: ${(error as Error).message}`);
    }
    if (!results) throw new StoreUnavailableError("Redis aborted the transaction");
    return results.map(([error, value]) => {
      if (error) throw new StoreUnavailableError(`Redis: ${error.message}`);
      return value;
    });
  }

  /**
   * One change: applied to the local copy at once (so a change issued right after sees
   * it, as with the file stores), sent as one MULTI with the version bump and the message
   * to the other nodes, and acknowledged only once Redis ran it. Changes of one node reach
   * Redis in the order they were made (one connection). A failed MULTI reloads the copy.
   */
  async #change(build: (m: ChainableCommander) => void, local: (index: AccountIndex) => void) {
    this.#checkUp();
    local(this.index);
    this.#changes++;
    this.#inflight++;
    const run = this.#run((m) => {
      build(m);
      return m.incr(VERSION).publish(CHANNEL, this.#self);
    }, true);
    this.#writes = this.#writes.then(() => run).catch(() => {});
    let results;
    try {
      results = await run;
    } catch (error) {
      this.#reloadQuietly();
      throw error;
    } finally {
      this.#inflight--;
    }
    this.index.version = Math.max(this.index.version, Number(results[results.length - 2]));
  }

  #put(m: ChainableCommander, account: Account): void {
    m.hset(ACCOUNTS, field(account.domain, account.user), JSON.stringify(account));
    m.hsetnx(DOMAINS, account.domain, JSON.stringify({ domain: account.domain }));
  }

  #apply(m: ChainableCommander, change: ResolvedChange): void {
    if (change.op === "put") this.#put(m, change.account);
    else m.hdel(ACCOUNTS, field(change.domain, change.user));
  }

  putAccount(input: AccountInput): Promise<void> {
    return settled(() => {
      const account = toAccount(input, this.#options);
      return this.#change((m) => this.#put(m, account), (index) => index.put(account));
    });
  }

  async deleteAccount(domain: string, user: string): Promise<boolean> {
    this.#checkOpen();
    const d = normalizeDomain(String(domain));
    if (!this.index.has(d, String(user))) return false;
    await this.#change(
      (m) => m.hdel(ACCOUNTS, field(d, String(user))),
      (index) => index.delete(d, String(user)),
    );
    return true;
  }

  applyChanges(changes: AccountChange[]): Promise<void> {
    return settled(() => {
      const resolved = resolveChanges(changes, this.#options);
      if (resolved.length === 0) return;
      return this.#change(
        (m) => resolved.forEach((c) => this.#apply(m, c)),
        (index) => resolved.forEach((c) => index.apply(c)),
      );
    });
  }

  putDomain(entry: DomainEntry, users?: AccountInput[]): Promise<void> {
    return settled(() => {
      const resolved = resolveDomain(entry, users, this.#options);
      const domain = resolved.entry.domain;
      const old = this.index.list(domain);
      return this.#change((m) => {
        m.hset(DOMAINS, domain, JSON.stringify(resolved.entry));
        if (resolved.users === undefined) return;
        for (const a of old) m.hdel(ACCOUNTS, field(domain, a.user));
        for (const account of resolved.users) this.#put(m, account);
      }, (index) => index.replaceDomain(resolved.entry, resolved.users));
    });
  }

  async deleteDomain(domain: string): Promise<boolean> {
    this.#checkOpen();
    const d = normalizeDomain(String(domain));
    const users = this.index.list(d);
    if (!this.index.getDomain(d) && users.length === 0) return false;
    await this.#change((m) => {
      m.hdel(DOMAINS, d);
      for (const a of users) m.hdel(ACCOUNTS, field(d, a.user));
    }, (index) => index.deleteDomain(d));
    return true;
  }

  clear(domain?: string): Promise<void> {
    return settled(() => {
      const accounts = this.index.list(domain);
      return this.#change((m) => {
        if (domain === undefined) m.del(ACCOUNTS);
        else for (const a of accounts) m.hdel(ACCOUNTS, field(a.domain, a.user));
      }, (index) => index.clear(domain));
    });
  }

  close(): void {
    this.#closed = true;
    this.#link.close();
  }
}
