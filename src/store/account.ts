/**
 * @module The accounts contract: what a SIP account is and what every store implementation
 * (sqlite, SIPWS JSON file) must do. The registrar and API depend on this interface only.
 * Reads are synchronous (served from memory or sqlite on the SIP hot path); writes resolve
 * only once the change is durable, so an acknowledged change survives a kill -9.
 */

/** HA1 digests of `user:realm:password`, realm being the account's domain. */
export interface Ha1 {
  md5: string;
  sha256: string;
}

export interface Account {
  domain: string;
  user: string;
  /** Kept only when the operator asks for plain passwords. */
  password?: string;
  ha1: Ha1;
  /** SIPWS protocol fields. */
  cn?: string;
  description?: string;
  image?: string;
  id?: string;
  avail?: string;
  origin?: string;
  port?: number;
  expire?: number;
}

/** What callers hand to `putAccount`: a password instead of digests. */
export type AccountInput = Omit<Account, "ha1"> & { password?: string; ha1?: Ha1 };

/** One step of a batch (`applyChanges`): a SIPWS protocol put entry with `o` "+" or "-". */
export type AccountChange =
  | { op: "put"; account: AccountInput }
  | { op: "delete"; domain: string; user: string };

/**
 * The one error type of the store boundary: a bad input (`field` names it, e.g.
 * `data[2].port`) or a backing file that cannot be read or written.
 */
export class StoreError extends Error {
  /** The offending field, when the error is about an input value. */
  readonly field?: string;
  constructor(message: string, field?: string) {
    super(field ? `${field}: ${message}` : message);
    this.name = "StoreError";
    this.field = field;
  }
}

/**
 * The shared store (Redis) cannot be reached: the change was not made. The API answers
 * 503, the node keeps serving from its local copy meanwhile.
 */
export class StoreUnavailableError extends StoreError {
  constructor(message: string) {
    super(message);
    this.name = "StoreUnavailableError";
  }
}

export interface DomainEntry {
  domain: string;
  /** Control server base URL for registration callbacks (mediaswitch directory API). */
  control?: string;
  /** Signs this domain's callbacks (HMAC-SHA256); wins over `[callbacks] secret`. */
  secret?: string;
  /** Inbound calls of this domain are offered to the control server first. */
  calls?: boolean;
}

export interface AccountStore {
  readonly kind: "sqlite" | "json" | "redis";
  getAccount(domain: string, user: string): Account | undefined;
  listAccounts(domain?: string): Account[];
  /** Adds or replaces; creates the domain entry when missing. */
  putAccount(input: AccountInput): Promise<void>;
  deleteAccount(domain: string, user: string): Promise<boolean>;
  /**
   * Applies puts and deletes in order, all or nothing, as one change (one version bump,
   * one durable write): a SIPWS protocol put request.
   */
  applyChanges(changes: AccountChange[]): Promise<void>;
  getDomain(domain: string): DomainEntry | undefined;
  listDomains(): DomainEntry[];
  /** Replaces the whole domain: its entry and (when given) all of its users. */
  putDomain(entry: DomainEntry, users?: AccountInput[]): Promise<void>;
  deleteDomain(domain: string): Promise<boolean>;
  /** Removes every account (of one domain, or all). */
  clear(domain?: string): Promise<void>;
  /** SIPWS registry version: bumped by every change. */
  version(): number;
  /** Re-reads the backing file (SIGHUP, or a change made by another process). */
  reload(): Promise<void>;
  /**
   * Set by the server; a store that follows changes made elsewhere by itself (the cluster's
   * Redis store: another node, the CLI) calls it after reading them.
   */
  onReloaded?: () => void;
  close(): void;
}
