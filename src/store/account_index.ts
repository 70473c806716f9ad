/**
 * @module The in-memory account index every store serves reads from (every REGISTER reads
 * it synchronously), and the one place an `AccountInput` becomes an `Account`: validation,
 * domain normalization (lower case), HA1 computation with realm = domain, and dropping the
 * plain password unless the operator keeps them. It does no I/O: the stores persist a
 * change first (sqlite) or right after (JSON file) and apply it here.
 */
import { computeHa1 } from "../sip/digest_hash.ts";
import {
  type Account,
  type AccountChange,
  type AccountInput,
  type DomainEntry,
  StoreError,
} from "./account.ts";

/** Options shared by every store implementation. */
export interface StoreOptions {
  /** Keep plain passwords besides the HA1 digests (Config.storePlainPasswords). */
  storePlainPasswords?: boolean;
}

/** A change after validation: what the index and the persistence layers apply. */
export type ResolvedChange =
  | { op: "put"; account: Account }
  | { op: "delete"; domain: string; user: string };

const HEX32 = /^[0-9a-f]{32}$/;
const HEX64 = /^[0-9a-f]{64}$/;
// Control characters and whitespace never belong in a user or domain: they would break
// the `user:realm:password` digest input and the SIP URI the account is reached by.
// deno-lint-ignore no-control-regex
const BAD_NAME = /[\s\x00-\x1f\x7f]/;

/**
 * Runs `write` now and returns its result, or the error it throws, as a promise: the
 * `AccountStore` writes report every failure (validation, closed store, I/O) by rejecting.
 */
export function settled<T>(write: () => T | Promise<T>): Promise<T> {
  try {
    return Promise.resolve(write());
  } catch (e) {
    return Promise.reject(e);
  }
}

/** Domains compare case-insensitively (RFC 3261 §19.1.4 host comparison). */
export function normalizeDomain(domain: string): string {
  return domain.toLowerCase();
}

function checkName(value: unknown, field: string): string {
  if (typeof value !== "string" || value === "") {
    throw new StoreError("must be a non-empty string", field);
  }
  if (BAD_NAME.test(value)) throw new StoreError("must not contain spaces or controls", field);
  return value;
}

function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw new StoreError("must be a string", field);
  return value;
}

function optionalInteger(value: unknown, field: string, max: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > max) {
    throw new StoreError(`must be an integer 0..${max}`, field);
  }
  return value;
}

/** Validates a domain entry and normalizes its domain. */
export function toDomainEntry(entry: DomainEntry, prefix = ""): DomainEntry {
  const domain = normalizeDomain(checkName(entry?.domain, `${prefix}domain`));
  const out: DomainEntry = { domain };
  const control = optionalString(entry.control, `${prefix}control`);
  if (control !== undefined) out.control = control;
  const secret = optionalString(entry.secret, `${prefix}secret`);
  if (secret) out.secret = secret;
  if (entry.calls !== undefined && typeof entry.calls !== "boolean") {
    throw new StoreError("must be true or false", `${prefix}calls`);
  }
  if (entry.calls) out.calls = true;
  return Object.freeze(out);
}

/**
 * Turns caller input into a stored account: HA1 (MD5 and SHA-256) from the password when
 * one is given, else the given HA1 pair; the password itself is kept only on request.
 * `prefix` prepends to field names in errors (e.g. `users[3].`).
 */
export function toAccount(input: AccountInput, options: StoreOptions, prefix = ""): Account {
  if (input === null || typeof input !== "object") {
    throw new StoreError("must be an object", prefix.replace(/\.$/, "") || "account");
  }
  const domain = normalizeDomain(checkName(input.domain, `${prefix}domain`));
  const user = checkName(input.user, `${prefix}user`);
  const password = optionalString(input.password, `${prefix}password`);
  let ha1: { md5: string; sha256: string };
  if (password !== undefined) {
    ha1 = {
      md5: computeHa1("MD5", user, domain, password),
      sha256: computeHa1("SHA-256", user, domain, password),
    };
  } else if (input.ha1 !== undefined) {
    const lower = (value: unknown) => typeof value === "string" ? value.toLowerCase() : value;
    const md5 = lower(input.ha1?.md5);
    const sha256 = lower(input.ha1?.sha256);
    if (typeof md5 !== "string" || !HEX32.test(md5)) {
      throw new StoreError("must be 32 hex digits", `${prefix}ha1.md5`);
    }
    if (typeof sha256 !== "string" || !HEX64.test(sha256)) {
      throw new StoreError("must be 64 hex digits", `${prefix}ha1.sha256`);
    }
    ha1 = { md5, sha256 };
  } else {
    throw new StoreError("a password or an HA1 pair is required", `${prefix}password`);
  }
  // SIPWS's `id` is the user name: default it so both stores round-trip the same shape.
  const id = optionalString(input.id, `${prefix}id`) ?? user;
  const account: Account = { domain, user, ha1: Object.freeze(ha1), id };
  if (password !== undefined && options.storePlainPasswords) account.password = password;
  const strings = ["cn", "description", "image", "avail", "origin"] as const;
  for (const key of strings) {
    const value = optionalString(input[key], `${prefix}${key}`);
    if (value !== undefined) account[key] = value;
  }
  const port = optionalInteger(input.port, `${prefix}port`, 65535);
  if (port !== undefined) account.port = port;
  const expire = optionalInteger(input.expire, `${prefix}expire`, 2 ** 31 - 1);
  if (expire !== undefined) account.expire = expire;
  return Object.freeze(account);
}

/** Validates a whole batch before anything is applied, so a batch is all or nothing. */
export function resolveChanges(changes: AccountChange[], options: StoreOptions): ResolvedChange[] {
  if (!Array.isArray(changes)) throw new StoreError("must be an array", "changes");
  return changes.map((change, i): ResolvedChange => {
    const prefix = `changes[${i}].`;
    if (change?.op === "put") {
      return { op: "put", account: toAccount(change.account, options, `${prefix}account.`) };
    }
    if (change?.op === "delete") {
      return {
        op: "delete",
        domain: normalizeDomain(checkName(change.domain, `${prefix}domain`)),
        user: checkName(change.user, `${prefix}user`),
      };
    }
    throw new StoreError('must be "put" or "delete"', `${prefix}op`);
  });
}

function byDomainUser(a: Account, b: Account): number {
  if (a.domain !== b.domain) return a.domain < b.domain ? -1 : 1;
  return a.user < b.user ? -1 : a.user > b.user ? 1 : 0;
}

/** Domain → user → account, plus domain entries and the registry version. */
export class AccountIndex {
  #domains = new Map<string, DomainEntry>();
  #users = new Map<string, Map<string, Account>>();
  /** SIPWS registry version. */
  version = 0;

  get(domain: string, user: string): Account | undefined {
    return (this.#users.get(domain) ?? this.#users.get(normalizeDomain(domain)))?.get(user);
  }

  list(domain?: string): Account[] {
    const out: Account[] = [];
    if (domain !== undefined) {
      const users = this.#users.get(normalizeDomain(domain));
      if (users) out.push(...users.values());
    } else {
      for (const users of this.#users.values()) out.push(...users.values());
    }
    return out.sort(byDomainUser);
  }

  getDomain(domain: string): DomainEntry | undefined {
    // Asked per REGISTER with a host that is lower-case already: no copy made for it.
    return this.#domains.get(domain) ?? this.#domains.get(normalizeDomain(domain));
  }

  listDomains(): DomainEntry[] {
    return [...this.#domains.values()].sort((a, b) => a.domain < b.domain ? -1 : 1);
  }

  has(domain: string, user: string): boolean {
    return this.#users.get(domain)?.has(user) ?? false;
  }

  put(account: Account): void {
    if (!this.#domains.has(account.domain)) {
      this.#domains.set(account.domain, Object.freeze({ domain: account.domain }));
    }
    let users = this.#users.get(account.domain);
    if (!users) this.#users.set(account.domain, users = new Map());
    users.set(account.user, account);
  }

  delete(domain: string, user: string): boolean {
    const users = this.#users.get(domain);
    if (!users?.delete(user)) return false;
    if (users.size === 0) this.#users.delete(domain);
    return true;
  }

  apply(change: ResolvedChange): void {
    if (change.op === "put") this.put(change.account);
    else this.delete(change.domain, change.user);
  }

  /** Sets a domain entry as given (no users touched). */
  setDomain(entry: DomainEntry): void {
    this.#domains.set(entry.domain, entry);
  }

  /** Replaces a domain: its entry and, when `users` is given, all of its accounts. */
  replaceDomain(entry: DomainEntry, users?: Account[]): void {
    this.#domains.set(entry.domain, entry);
    if (users === undefined) return;
    this.#users.delete(entry.domain);
    for (const account of users) this.put(account);
  }

  deleteDomain(domain: string): boolean {
    const had = this.#domains.delete(domain);
    const hadUsers = this.#users.delete(domain);
    return had || hadUsers;
  }

  clear(domain?: string): void {
    if (domain === undefined) this.#users.clear();
    else this.#users.delete(normalizeDomain(domain));
  }
}

/** Validates `putDomain` input: the entry, and users that all belong to that domain. */
export function resolveDomain(
  entry: DomainEntry,
  users: AccountInput[] | undefined,
  options: StoreOptions,
): { entry: DomainEntry; users?: Account[] } {
  const resolved = toDomainEntry(entry);
  if (users === undefined) return { entry: resolved };
  if (!Array.isArray(users)) throw new StoreError("must be an array", "users");
  const accounts = users.map((input, i) => {
    const prefix = `users[${i}].`;
    const account = toAccount(
      { ...input, domain: input?.domain ?? resolved.domain },
      options,
      prefix,
    );
    if (account.domain !== resolved.domain) {
      throw new StoreError(`must be ${resolved.domain}`, `${prefix}domain`);
    }
    return account;
  });
  return { entry: resolved, users: accounts };
}

/**
 * The reads every account store serves from its in-memory index, never from its backing
 * file or server: a subclass persists each change and then applies it to `index`.
 */
export abstract class IndexedAccountStore {
  /** Replaced whole when the backing is read again. */
  protected index = new AccountIndex();

  getAccount(domain: string, user: string): Account | undefined {
    return this.index.get(domain, user);
  }

  listAccounts(domain?: string): Account[] {
    return this.index.list(domain);
  }

  getDomain(domain: string): DomainEntry | undefined {
    return this.index.getDomain(domain);
  }

  listDomains(): DomainEntry[] {
    return this.index.listDomains();
  }

  version(): number {
    return this.index.version;
  }
}
