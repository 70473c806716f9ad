/**
 * @module Registrations in the embedded sqlite file, beside the accounts: one row per
 * binding (AOR, key, expiry, the record as JSON). Its own connection uses
 * `synchronous = NORMAL` under WAL: a committed batch survives a kill -9 of sipws (the
 * WAL is in the OS's hands) without an fsync per batch; a power loss may lose the last
 * batches, never the accounts (their connection stays `FULL`).
 */
import { DatabaseSync } from "node:sqlite";
import { StoreError } from "./account.ts";
import {
  type BindingChanges,
  type BindingStore,
  checkStoredBinding,
  type StoredBinding,
} from "./binding_store.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS bindings (
  aor TEXT NOT NULL,
  key TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  record TEXT NOT NULL,
  PRIMARY KEY (aor, key)
);
`;

export class SqliteBindingStore implements BindingStore {
  #db: DatabaseSync;

  private constructor(db: DatabaseSync) {
    this.#db = db;
  }

  static open(path: string): SqliteBindingStore {
    let db: DatabaseSync | undefined;
    try {
      db = new DatabaseSync(path);
      db.exec("PRAGMA busy_timeout = 5000");
      db.exec("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA synchronous = NORMAL");
      db.exec(SCHEMA);
      return new SqliteBindingStore(db);
    } catch (e) {
      db?.close();
      throw new StoreError(`cannot open registrations in ${path}: ${(e as Error).message}`);
    }
  }

  load(now: number): Promise<StoredBinding[]> {
    this.#db.prepare("DELETE FROM bindings WHERE expires_at <= ?").run(now);
    const rows = this.#db.prepare("SELECT record FROM bindings").all();
    const out: StoredBinding[] = [];
    for (const row of rows) {
      try {
        const b = checkStoredBinding(JSON.parse(String(row.record)));
        if (b) out.push(b);
      } catch {
        // A row that does not parse is skipped: the phone re-registers.
      }
    }
    return Promise.resolve(out);
  }

  apply(changes: BindingChanges): Promise<void> {
    const put = this.#db.prepare(
      "INSERT OR REPLACE INTO bindings (aor, key, expires_at, record) VALUES (?, ?, ?, ?)",
    );
    const remove = this.#db.prepare("DELETE FROM bindings WHERE aor = ? AND key = ?");
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      for (const r of changes.remove) remove.run(r.aor, r.key);
      for (const b of changes.put) put.run(b.aor, b.key, b.expiresAt, JSON.stringify(b));
      this.#db.exec("COMMIT");
    } catch (e) {
      this.#db.exec("ROLLBACK");
      return Promise.reject(new StoreError(`cannot write registrations: ${(e as Error).message}`));
    }
    return Promise.resolve();
  }

  close(): void {
    this.#db.close();
  }
}
