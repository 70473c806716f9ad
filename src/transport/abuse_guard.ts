/**
 * @module Abuse protection state, in one place behind a narrow interface: `checkMessage` (before parsing: banned → drop, over the rate →
 * 503 or drop), `admitConnection` (bans and connection caps), `recordFailure` /
 * `recordSuccess` / `isBlocked` (digest outcomes from the core), and `bans` / `unban` for
 * operators. It owns the ban rule (README "Abuse protection"):
 *
 * - failures are counted per source address and per (address, account) over `banWindow`;
 * - an address with no successful authentication in the last `goodSourceMs` is banned after
 *   `banAfter` failures;
 * - an address with one (a NAT with good users behind it) is banned only when `banAfter`
 *   distinct accounts failed; a single account failing `banAfter` times there is locked
 *   for that address alone (`isBlocked`), so one bad user cannot lock out the others;
 * - trusted CIDRs are never banned, limited or capped (account locks still apply).
 *
 * With several workers (a process `SourceTable`), an address's failures are counted for the
 * whole process in that table, in a window opened by its first failure (as the rate
 * windows), and so is its last success: the thread that reads the failure that bans it sees
 * that at once (`countFailure`) and holds the ban before answering, as one thread does; the
 * main thread, told of it, decides the ban everyone lists, logs and calls back.
 *
 * Every table is bounded (`maxEntries`; bans, failures, successes, ban history, rate
 * windows), the oldest entries going first (bounded_map.ts). It sends nothing and closes nothing: `onBanned` tells the
 * owner, which closes connections, logs, counts and calls back.
 */
import type { BanView } from "../events.ts";
import type { CidrSet } from "../sip/cidr.ts";
import { putLast } from "./bounded_map.ts";
import { OVER_ANSWER, OVER_DROP, RateLimiter, type RateVerdict, WITHIN } from "./rate_limiter.ts";
import type { SourceTable } from "./source_table.ts";

export interface AbuseOptions {
  enabled: boolean;
  banAfter: number;
  banWindowMs: number;
  banTimeMs: number;
  /** Requests per second per address and per connection; 0 disables. */
  rateLimit: number;
  maxConnectionsPerSource: number;
  maxConnections: number;
  trusted: CidrSet;
  /** A success younger than this makes an address a known-good (NAT) source. */
  goodSourceMs: number;
  /** Bound of each table (default 100,000 entries). */
  maxEntries?: number;
}

export type Ban = BanView;

/** What to do with one inbound message. */
export const PASS = 0;
export const DROP_BANNED = 1;
export const REFUSE_RATE = 2;
export const DROP_RATE = 3;
export type MessageVerdict =
  | typeof PASS
  | typeof DROP_BANNED
  | typeof REFUSE_RATE
  | typeof DROP_RATE;

/** A change of the ban set or of account locks, as replicas (workers, nodes) apply it. */
export type BanChange =
  | { ban: Ban }
  | { lifted: string }
  | { locked: { address: string; account: string; until: number } };

export type ConnectionVerdict = "ok" | "banned" | "source_cap" | "total_cap";

interface AccountFailures {
  times: number[];
  blockedUntil: number;
}

interface FailureRecord {
  times: number[];
  accounts: Map<string, AccountFailures>;
}

const DAY_MS = 86_400_000;
const REPORT_EVERY_MS = 60_000;
const MAX_DOUBLINGS = 6;
/** How often a known-good source's last success is moved forward (recordSuccess). */
const SUCCESS_REFRESH_MS = 1000;

/** Keeps the times inside the window, and at most `max` of the newest. */
function prune(times: number[], since: number, max: number): void {
  let drop = 0;
  while (drop < times.length && times[drop] <= since) drop++;
  if (times.length - drop > max) drop = times.length - max;
  if (drop > 0) times.splice(0, drop);
}

export class AbuseGuard {
  /** Told of each new ban (not of unbans or expiries). */
  onBanned: (ban: Ban) => void = () => {};
  /** Told when an operator lifts a ban (not of expiries, nor of `forget`). */
  onLifted: (address: string) => void = () => {};
  /** Told once per account lock at an address. */
  onAccountBlocked: (address: string, account: string, until: number) => void = () => {};

  #observers: ((change: BanChange) => void)[] = [];
  #o!: AbuseOptions;
  #max = 100_000;
  #now: () => number;
  #bans = new Map<string, Ban>();
  #failures = new Map<string, FailureRecord>();
  #successes = new Map<string, number>();
  #history = new Map<string, { count: number; at: number }>();
  #perSource!: RateLimiter;
  #perConnection!: RateLimiter;
  #connections = new Map<string, number>();
  #open = 0;
  /** `address account` → end of that account's lock at that address. */
  #locks = new Map<string, number>();
  /** Key → when it was last reported: one log line per episode, not one per message. */
  #reported = new Map<string, number>();
  /** With several workers: per-source rates and connection counts of the whole process. */
  #shared?: SourceTable;
  #isTrusted = (host: string) => this.#o.trusted.has(host);

  constructor(options: AbuseOptions, now: () => number = Date.now, shared?: SourceTable) {
    this.#now = now;
    this.#shared = shared;
    this.configure(options);
  }

  /** Applies new options (reload); bans and counts stay. */
  configure(options: AbuseOptions): void {
    const trustChanged = this.#o?.trusted.source.join() !== options.trusted.source.join();
    this.#o = options;
    this.#max = options.maxEntries ?? 100_000;
    if (!this.#perSource || trustChanged) {
      this.#perSource = new RateLimiter(options.rateLimit, this.#max);
      this.#perConnection = new RateLimiter(options.rateLimit, this.#max);
    }
    this.#perSource.limit = options.rateLimit;
    this.#perConnection.limit = options.rateLimit;
    if (trustChanged) {
      for (const address of this.#bans.keys()) if (this.#isTrusted(address)) this.forget(address);
    }
  }

  get options(): AbuseOptions {
    return this.#o;
  }

  /**
   * Calls `observer` after every change of the ban set (a ban decided here or adopted, a
   * ban lifted or forgotten; not expiries, which happen everywhere at the same `until`),
   * so replicas can follow. Returns the unsubscribe function.
   */
  observe(observer: (change: BanChange) => void): () => void {
    this.#observers.push(observer);
    return () => this.#observers.splice(this.#observers.indexOf(observer) >>> 0, 1);
  }

  #tell(change: BanChange): void {
    for (const observer of this.#observers) observer(change);
  }

  // --- hot path ---

  /**
   * The verdict for one inbound message from `host` (on stream connection `connection`),
   * before it is parsed. Only requests count against the rate; responses pass unless banned.
   * `now` (epoch ms) lets the caller share the clock read it makes anyway: reading the clock
   * is most of the cost of this check.
   */
  checkMessage(
    host: string,
    connection: string | undefined,
    isRequest: boolean,
    now = this.#now(),
  ): MessageVerdict {
    const o = this.#o;
    if (!o.enabled) return PASS;
    if (this.#bans.size > 0 && this.#banned(host, now)) return DROP_BANNED;
    if (!isRequest || o.rateLimit === 0) return PASS;
    let verdict = this.#sourceHit(host, now);
    if (verdict === WITHIN && connection !== undefined) {
      // Same exemption as the source: a trusted source's connections are never limited.
      verdict = this.#perConnection.hit(connection, now, () => this.#isTrusted(host));
    }
    return verdict === OVER_ANSWER ? REFUSE_RATE : verdict === OVER_DROP ? DROP_RATE : PASS;
  }

  #sourceHit(host: string, now: number): RateVerdict {
    const shared = this.#shared;
    if (!shared) return this.#perSource.hit(host, now, this.#isTrusted);
    if (this.#o.trusted.size > 0 && this.#isTrusted(host)) return WITHIN;
    return shared.hit(host, now, this.#o.rateLimit);
  }

  /** Seconds a refused source should wait (Retry-After). */
  retryAfter(host: string): number {
    return (this.#shared ?? this.#perSource).retryAfter(host, this.#now());
  }

  /** True at most once a minute per key: one log line per episode, not one per message. */
  shouldReport(key: string): boolean {
    const now = this.#now();
    const at = this.#reported.get(key);
    if (at !== undefined && now - at < REPORT_EVERY_MS) return false;
    putLast(this.#reported, key, now, this.#max);
    return true;
  }

  #banned(host: string, now = this.#now()): boolean {
    const ban = this.#bans.get(host);
    if (ban === undefined) return false;
    if (ban.until > now) return true;
    this.#bans.delete(host);
    return false;
  }

  // --- connections ---

  /** Whether a new inbound connection from `host` may be accepted. */
  admitConnection(host: string): ConnectionVerdict {
    const o = this.#o;
    if (!o.enabled) return "ok";
    if (this.#bans.size > 0 && this.#banned(host)) return "banned";
    const shared = this.#shared;
    const perSource = o.maxConnectionsPerSource > 0 &&
      (shared ? shared.connections(host) : this.#connections.get(host) ?? 0) >=
        o.maxConnectionsPerSource;
    const total = o.maxConnections > 0 && (shared?.open ?? this.#open) >= o.maxConnections;
    if (!perSource && !total) return "ok";
    if (this.#isTrusted(host)) return "ok";
    return perSource ? "source_cap" : "total_cap";
  }

  connectionOpened(host: string): void {
    if (this.#shared) return this.#shared.opened(host);
    this.#open++;
    this.#connections.set(host, (this.#connections.get(host) ?? 0) + 1);
  }

  connectionClosed(host: string, connection: string): void {
    this.#perConnection.forget(connection);
    if (this.#shared) return this.#shared.closed(host);
    this.#open = Math.max(0, this.#open - 1);
    const n = (this.#connections.get(host) ?? 1) - 1;
    if (n > 0) this.#connections.set(host, n);
    else this.#connections.delete(host);
  }

  // --- authentication outcomes ---

  /**
   * One failed digest (wrong password or unknown user) from `host` for `user@realm`. With a
   * process table, `bans` says whether the thread that read it counted it there and found
   * it bans the address (`countFailure`); undefined: read here, counted here.
   */
  recordFailure(host: string, user: string, realm: string, bans?: boolean): void {
    const o = this.#o;
    if (!o.enabled) return;
    const now = this.#now();
    const since = now - o.banWindowMs;
    const account = `${user}@${realm}`;
    let record = this.#failures.get(host);
    if (record === undefined) record = { times: [], accounts: new Map() };
    putLast(this.#failures, host, record, this.#max);
    record.times.push(now);
    prune(record.times, since, o.banAfter);
    let failed = record.accounts.get(account);
    if (failed === undefined) {
      // The per-address account table is bounded too: stale accounts go, then the oldest.
      for (const [name, f] of record.accounts) {
        if (f.blockedUntil <= now && (f.times.at(-1) ?? 0) <= since) record.accounts.delete(name);
      }
      failed = { times: [], blockedUntil: 0 };
    }
    putLast(record.accounts, account, failed, o.banAfter + 1);
    failed.times.push(now);
    prune(failed.times, since, o.banAfter);

    const trusted = this.#isTrusted(host);
    if (!trusted) {
      const shared = this.#shared;
      const known = (shared ? shared.goodAt(host) : this.#successes.get(host) ?? -Infinity) >
        now - o.goodSourceMs;
      let distinct = 0;
      for (const f of record.accounts.values()) if ((f.times.at(-1) ?? 0) > since) distinct++;
      const crosses = shared
        ? bans ?? shared.failed(host, now, o.banWindowMs, o.banAfter, o.goodSourceMs)
        : !known && record.times.length >= o.banAfter;
      if (crosses) return this.#ban(host, "auth_failures", record, now);
      if (known && distinct >= o.banAfter) return this.#ban(host, "accounts_scanned", record, now);
    }
    if (failed.times.length >= o.banAfter && failed.blockedUntil <= now) {
      failed.blockedUntil = now + o.banTimeMs;
      failed.times = [];
      putLast(this.#locks, `${host} ${account}`, failed.blockedUntil, this.#max);
      this.onAccountBlocked(host, account, failed.blockedUntil);
      this.#tell({ locked: { address: host, account, until: failed.blockedUntil } });
    }
  }

  /** A successful digest from `host`: the address is known-good, the account's slate clean. */
  recordSuccess(host: string, user: string, realm: string): void {
    if (!this.#o.enabled) return;
    const now = this.#now();
    // A phone re-registering over and over: moving its entry to the end of the map (a
    // delete and an insert) once a second (a tenth of the window, when shorter) is as good
    // as at every success, and cheaper.
    const last = this.#successes.get(host);
    const every = Math.min(SUCCESS_REFRESH_MS, this.#o.goodSourceMs / 10);
    if (last === undefined || now - last >= every) {
      putLast(this.#successes, host, now, this.#max);
      this.#shared?.succeeded(host, now);
    }
    const failed = this.#failures.get(host)?.accounts.get(`${user}@${realm}`);
    if (failed) failed.times = [];
  }

  /**
   * In a worker thread (a process table, failures decided on the main thread): counts one
   * failed digest from `host` in the table. True when it bans the address: the ban is held
   * here at once (so its connections close before the failure is answered, as with one
   * thread) until the main thread's, which this is reported to, takes its place.
   */
  countFailure(host: string): boolean {
    const o = this.#o;
    const shared = this.#shared;
    if (!o.enabled || !shared || this.#isTrusted(host)) return false;
    const now = this.#now();
    if (!shared.failed(host, now, o.banWindowMs, o.banAfter, o.goodSourceMs)) return false;
    this.adopt({
      address: host,
      since: now,
      until: now + o.banTimeMs,
      reason: "auth_failures",
      failures: o.banAfter,
      accounts: [],
      realms: [],
      repeat: 1,
    });
    return true;
  }

  /** True while `user@realm` is locked at `host` after too many failures there. */
  isBlocked(host: string, user: string, realm: string): boolean {
    if (!this.#o.enabled || this.#locks.size === 0) return false;
    return (this.#locks.get(`${host} ${user}@${realm}`) ?? 0) > this.#now();
  }

  /** Holds an account lock decided elsewhere (the main thread, for a worker). */
  adoptLock(address: string, account: string, until: number): void {
    putLast(this.#locks, `${address} ${account}`, until, this.#max);
  }

  #ban(host: string, reason: Ban["reason"], record: FailureRecord, now: number): void {
    const o = this.#o;
    const past = this.#history.get(host);
    const repeat = past && now - past.at < DAY_MS ? past.count + 1 : 1;
    const accounts = [...record.accounts.keys()];
    const ban: Ban = {
      address: host,
      since: now,
      until: now + o.banTimeMs * 2 ** Math.min(repeat - 1, MAX_DOUBLINGS),
      reason,
      failures: record.times.length,
      accounts,
      realms: [...new Set(accounts.map((a) => a.slice(a.lastIndexOf("@") + 1)))],
      repeat,
    };
    putLast(this.#bans, host, ban, this.#max);
    putLast(this.#history, host, { count: repeat, at: now }, this.#max);
    this.#failures.delete(host);
    this.onBanned(ban);
    this.#tell({ ban });
  }

  // --- operators ---

  /** Bans in force, soonest to end first. */
  bans(): Ban[] {
    const now = this.#now();
    return [...this.#bans.values()].filter((b) => b.until > now)
      .sort((a, b) => a.until - b.until);
  }

  /** Lifts a ban (an operator's act: `onLifted` is told). */
  unban(address: string): boolean {
    const had = this.forget(address);
    if (had) this.onLifted(address);
    return had;
  }

  /** Lifts a ban and forgets the address's failures and repeat count, telling no one. */
  forget(address: string): boolean {
    for (const key of this.#locks.keys()) {
      if (key.startsWith(`${address} `)) this.#locks.delete(key);
    }
    const had = this.#bans.delete(address);
    this.#history.delete(address);
    this.#failures.delete(address);
    this.#shared?.forgetFailures(address);
    if (had) this.#tell({ lifted: address });
    return had;
  }

  /**
   * Holds a ban decided elsewhere (the main thread, for a worker; another node): it is
   * enforced here like a local one, but `onBanned` is not told (where it was decided it was
   * logged, counted and called back). Trusted addresses and bans already over are ignored.
   * True when it was taken.
   */
  adopt(ban: Ban): boolean {
    const now = this.#now();
    if (!this.#o.enabled || ban.until <= now || this.#isTrusted(ban.address)) return false;
    const held = this.#bans.get(ban.address);
    if (held && held.until >= ban.until) return false;
    putLast(this.#bans, ban.address, ban, this.#max);
    this.#tell({ ban });
    return true;
  }

  /** Table sizes, for metrics and the bench. */
  sizes(): Record<string, number> {
    return {
      bans: this.#bans.size,
      failures: this.#failures.size,
      successes: this.#successes.size,
      history: this.#history.size,
      rate_sources: this.#shared?.size ?? this.#perSource.size,
      rate_connections: this.#perConnection.size,
      reported: this.#reported.size,
      locks: this.#locks.size,
      connection_sources: this.#connections.size,
    };
  }

  /** Periodic cleanup (every second): expired bans, stale windows and records. */
  sweep(): void {
    const now = this.#now();
    const o = this.#o;
    for (const [address, ban] of this.#bans) if (ban.until <= now) this.#bans.delete(address);
    this.#perSource.sweep(now);
    if (this.#shared?.owner) this.#shared.sweep(now, o.banWindowMs, o.goodSourceMs);
    this.#perConnection.sweep(now);
    const since = now - o.banWindowMs;
    // Records are kept in order of their last failure: stop at the first recent one.
    for (const [host, record] of this.#failures) {
      if ((record.times.at(-1) ?? 0) > since) break;
      let locked = false;
      for (const f of record.accounts.values()) locked ||= f.blockedUntil > now;
      if (!locked) this.#failures.delete(host);
    }
    for (const [key, until] of this.#locks) if (until <= now) this.#locks.delete(key);
    for (const [key, at] of this.#reported) {
      if (now - at < REPORT_EVERY_MS) break;
      this.#reported.delete(key);
    }
    for (const [host, at] of this.#successes) {
      if (at > now - o.goodSourceMs) break; // insertion order is time order
      this.#successes.delete(host);
    }
    for (const [host, past] of this.#history) {
      if (now - past.at < DAY_MS) break;
      this.#history.delete(host);
    }
  }
}
