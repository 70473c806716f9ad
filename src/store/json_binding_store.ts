/**
 * @module Registrations of a JSON `-b` deployment, in a sibling file of the accounts
 * (`x.bindings.json`): the whole table, replaced atomically per batch (temp file, fsync,
 * rename, as the accounts file is). The table is kept in memory, so a batch costs one
 * file write however many bindings changed.
 */
import { StoreError } from "./account.ts";
import {
  type BindingChanges,
  type BindingStore,
  checkStoredBinding,
  type StoredBinding,
} from "./binding_store.ts";
import { writeFileAtomic } from "./json_file_store.ts";

export class JsonBindingStore implements BindingStore {
  #path: string;
  #table = new Map<string, StoredBinding>();

  constructor(path: string) {
    this.#path = path;
  }

  async load(now: number): Promise<StoredBinding[]> {
    let text: string;
    try {
      text = await Deno.readTextFile(this.#path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return [];
      throw new StoreError(`cannot read ${this.#path}: ${(e as Error).message}`);
    }
    let records: unknown;
    try {
      records = JSON.parse(text);
    } catch {
      // Written by rename only, so never half a file; a hand-edited one is not trusted.
      throw new StoreError(`${this.#path}: not valid JSON`);
    }
    this.#table.clear();
    for (const record of Array.isArray(records) ? records : []) {
      const b = checkStoredBinding(record);
      if (b && b.expiresAt > now) this.#table.set(`${b.aor}\0${b.key}`, b);
    }
    return [...this.#table.values()];
  }

  async apply(changes: BindingChanges): Promise<void> {
    for (const r of changes.remove) this.#table.delete(`${r.aor}\0${r.key}`);
    for (const b of changes.put) this.#table.set(`${b.aor}\0${b.key}`, b);
    await writeFileAtomic(this.#path, JSON.stringify([...this.#table.values()]));
  }

  close(): void {}
}
