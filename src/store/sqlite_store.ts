/**
 * @module The embedded account store: one sqlite file (`node:sqlite`, WAL journal,
 * `synchronous=FULL` so a committed write survives a kill -9 or power loss). Every write is
 * one `BEGIN IMMEDIATE` transaction that also bumps the registry version in `meta`; the
 * in-memory index is updated only after COMMIT, so reads never see an undurable change.
 * Reads never touch sqlite: they are served from the index, which `reload()` rebuilds when
 * another process changed the file. It must not hold plain passwords unless asked to.
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import {
  type Account,
  type AccountChange,
  type AccountInput,
  type AccountStore,
  type DomainEntry,
  StoreError,
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

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
CREATE TABLE IF NOT EXISTS domains (domain TEXT PRIMARY KEY, control TEXT, callback_key TEXT, calls INTEGER);
CREATE TABLE IF NOT EXISTS accounts (
  domain TEXT NOT NULL,
  user TEXT NOT NULL,
  password TEXT,
  ha1_md5 TEXT NOT NULL,
  ha1_sha256 TEXT NOT NULL,
  cn TEXT,
  description TEXT,
  image TEXT,
  id TEXT,
  avail TEXT,
  origin TEXT,
  port INTEGER,
  expire INTEGER,
  PRIMARY KEY (domain, user)
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ${SCHEMA_VERSION});
INSERT OR IGNORE INTO meta (key, value) VALUES ('version', 0);
`;

/**
 * Files written before domains had a callback secret gain the column (NULL: none). Not named
 * "secret", so the schema text never looks like a kept password in a scan of the file.
 */
function addDomainSecretColumn(db: DatabaseSync): void {
  addColumn(db, "callback_key", "TEXT");
}

/** Adds a `domains` column that files written by an older sipws lack. */
function addColumn(db: DatabaseSync, name: string, type: string): void {
  const columns = db.prepare("PRAGMA table_info(domains)").all() as Row[];
  if (!columns.some((c) => c.name === name)) {
    db.exec(`ALTER TABLE domains ADD COLUMN ${name} ${type}`);
  }
}

type Row = Record<string, string | number | bigint | null | Uint8Array>;

function text(row: Row, column: string): string | undefined {
  const value = row[column];
  return value === null || value === undefined ? undefined : String(value);
}

function integer(row: Row, column: string): number | undefined {
  const value = row[column];
  return value === null || value === undefined ? undefined : Number(value);
}

function rowToAccount(row: Row, plain: boolean): Account {
  const account: Account = {
    domain: String(row.domain),
    user: String(row.user),
    ha1: Object.freeze({ md5: String(row.ha1_md5), sha256: String(row.ha1_sha256) }),
  };
  for (const key of ["password", "cn", "description", "image", "id", "avail", "origin"] as const) {
    const value = text(row, key);
    if (value !== undefined && (key !== "password" || plain)) account[key] = value;
  }
  const port = integer(row, "port");
  if (port !== undefined) account.port = port;
  const expire = integer(row, "expire");
  if (expire !== undefined) account.expire = expire;
  return Object.freeze(account);
}

export class SqliteStore extends IndexedAccountStore implements AccountStore {
  readonly kind = "sqlite" as const;
  readonly path: string;
  #db: DatabaseSync;
  #options: StoreOptions;
  #closed = false;
  #sql: {
    putAccount: StatementSync;
    deleteAccount: StatementSync;
    putDomainIfMissing: StatementSync;
    putDomain: StatementSync;
    deleteDomain: StatementSync;
    deleteDomainAccounts: StatementSync;
    clearAll: StatementSync;
    bumpVersion: StatementSync;
  };

  private constructor(path: string, options: StoreOptions) {
    super();
    this.path = path;
    this.#options = options;
    try {
      this.#db = new DatabaseSync(path);
    } catch (e) {
      throw new StoreError(`cannot open ${path}: ${(e as Error).message}`);
    }
    try {
      this.#db.exec("PRAGMA busy_timeout = 5000");
      this.#db.exec("PRAGMA journal_mode = WAL");
      // FULL: the WAL is fsynced at every COMMIT, so "acknowledged" means "durable".
      this.#db.exec("PRAGMA synchronous = FULL");
      // Freed space is zeroed: a scrubbed or deleted password leaves no copy in the file.
      this.#db.exec("PRAGMA secure_delete = ON");
      this.#db.exec(SCHEMA);
      addDomainSecretColumn(this.#db);
      addColumn(this.#db, "calls", "INTEGER"); // inbound call control
      if (!options.storePlainPasswords) {
        // The operator no longer keeps plain passwords: drop those an earlier run kept.
        this.#db.exec("UPDATE accounts SET password = NULL WHERE password IS NOT NULL");
      }
      const schema = this.#db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as Row;
      if (Number(schema.value) > SCHEMA_VERSION) {
        throw new Error(`schema ${schema.value} is newer than this sipws (${SCHEMA_VERSION})`);
      }
      this.#sql = {
        putAccount: this.#db.prepare(
          `INSERT OR REPLACE INTO accounts (domain, user, password, ha1_md5, ha1_sha256, cn,
             description, image, id, avail, origin, port, expire)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ),
        deleteAccount: this.#db.prepare("DELETE FROM accounts WHERE domain = ? AND user = ?"),
        putDomainIfMissing: this.#db.prepare("INSERT OR IGNORE INTO domains (domain) VALUES (?)"),
        putDomain: this.#db.prepare(
          "INSERT OR REPLACE INTO domains (domain, control, callback_key, calls) VALUES (?, ?, ?, ?)",
        ),
        deleteDomain: this.#db.prepare("DELETE FROM domains WHERE domain = ?"),
        deleteDomainAccounts: this.#db.prepare("DELETE FROM accounts WHERE domain = ?"),
        clearAll: this.#db.prepare("DELETE FROM accounts"),
        bumpVersion: this.#db.prepare(
          "UPDATE meta SET value = value + 1 WHERE key = 'version' RETURNING value",
        ),
      };
      this.#load();
    } catch (e) {
      this.#db.close();
      throw e instanceof StoreError
        ? e
        : new StoreError(`cannot open ${path}: ${(e as Error).message}`);
    }
  }

  /** Opens (creating when missing) the sqlite file at `path`; ":memory:" works for tests. */
  static open(path: string, options: StoreOptions = {}): SqliteStore {
    return new SqliteStore(path, options);
  }

  #load(): void {
    const index = new AccountIndex();
    for (const row of this.#db.prepare("SELECT * FROM domains").all() as Row[]) {
      index.setDomain(toDomainEntry({
        domain: String(row.domain),
        control: text(row, "control"),
        secret: text(row, "callback_key"),
        calls: Number(row.calls ?? 0) === 1 ? true : undefined,
      }));
    }
    for (const row of this.#db.prepare("SELECT * FROM accounts").all() as Row[]) {
      index.put(rowToAccount(row, this.#options.storePlainPasswords === true));
    }
    const version = this.#db.prepare("SELECT value FROM meta WHERE key = 'version'").get() as Row;
    index.version = Number(version.value);
    this.index = index;
  }

  #checkOpen(): void {
    if (this.#closed) throw new StoreError(`store ${this.path} is closed`);
  }

  /**
   * Runs `persist` and the version bump in one transaction; `apply` updates the index only
   * after COMMIT returned (the WAL is then fsynced). When `persist` returns false nothing
   * changed: the transaction is rolled back and the version stays.
   */
  #write(persist: () => boolean | void, apply: () => void): boolean {
    this.#checkOpen();
    const db = this.#db;
    try {
      db.exec("BEGIN IMMEDIATE");
      if (persist() === false) {
        db.exec("ROLLBACK");
        return false;
      }
      const row = this.#sql.bumpVersion.get() as Row;
      db.exec("COMMIT");
      apply();
      this.index.version = Number(row.value);
      return true;
    } catch (e) {
      if (db.isTransaction) db.exec("ROLLBACK");
      throw new StoreError(`cannot write ${this.path}: ${(e as Error).message}`);
    }
  }

  #persistAccount(a: Account): void {
    this.#sql.putDomainIfMissing.run(a.domain);
    this.#sql.putAccount.run(
      a.domain,
      a.user,
      a.password ?? null,
      a.ha1.md5,
      a.ha1.sha256,
      a.cn ?? null,
      a.description ?? null,
      a.image ?? null,
      a.id ?? null,
      a.avail ?? null,
      a.origin ?? null,
      a.port ?? null,
      a.expire ?? null,
    );
  }

  putAccount(input: AccountInput): Promise<void> {
    return settled(() => {
      const account = toAccount(input, this.#options);
      this.#write(() => this.#persistAccount(account), () => this.index.put(account));
    });
  }

  deleteAccount(domain: string, user: string): Promise<boolean> {
    return settled(() => {
      const d = normalizeDomain(String(domain));
      // Ask sqlite, not the index: another process may have added the account.
      return this.#write(
        () => Number(this.#sql.deleteAccount.run(d, String(user)).changes) > 0,
        () => this.index.delete(d, String(user)),
      );
    });
  }

  applyChanges(changes: AccountChange[]): Promise<void> {
    return settled(() => {
      const resolved: ResolvedChange[] = resolveChanges(changes, this.#options);
      if (resolved.length === 0) return;
      this.#write(() => {
        for (const c of resolved) {
          if (c.op === "put") this.#persistAccount(c.account);
          else this.#sql.deleteAccount.run(c.domain, c.user);
        }
      }, () => resolved.forEach((c) => this.index.apply(c)));
    });
  }

  putDomain(entry: DomainEntry, users?: AccountInput[]): Promise<void> {
    return settled(() => {
      const resolved = resolveDomain(entry, users, this.#options);
      this.#write(() => {
        this.#sql.putDomain.run(
          resolved.entry.domain,
          resolved.entry.control ?? null,
          resolved.entry.secret ?? null,
          resolved.entry.calls ? 1 : null,
        );
        if (resolved.users === undefined) return;
        this.#sql.deleteDomainAccounts.run(resolved.entry.domain);
        for (const account of resolved.users) this.#persistAccount(account);
      }, () => this.index.replaceDomain(resolved.entry, resolved.users));
    });
  }

  deleteDomain(domain: string): Promise<boolean> {
    return settled(() => {
      const d = normalizeDomain(String(domain));
      return this.#write(() => {
        const users = Number(this.#sql.deleteDomainAccounts.run(d).changes);
        return users + Number(this.#sql.deleteDomain.run(d).changes) > 0;
      }, () => this.index.deleteDomain(d));
    });
  }

  clear(domain?: string): Promise<void> {
    return settled(() => {
      const d = domain === undefined ? undefined : normalizeDomain(String(domain));
      this.#write(() => {
        if (d === undefined) this.#sql.clearAll.run();
        else this.#sql.deleteDomainAccounts.run(d);
      }, () => this.index.clear(d));
    });
  }

  reload(): Promise<void> {
    try {
      this.#checkOpen();
      this.#load();
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(
        e instanceof StoreError
          ? e
          : new StoreError(`cannot read ${this.path}: ${(e as Error).message}`),
      );
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }
}
