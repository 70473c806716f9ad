/**
 * @module The `-b` store: SIPWS's JSON "database" file, kept loadable by SIPWS and
 * rewritten whole after every change. A write goes to a temp file in the same folder,
 * is fsynced, renamed over the file, and the folder is fsynced: a kill -9 at any moment
 * leaves either the old or the new complete file. Changes apply to the in-memory index at
 * once and their promises resolve when a rewrite that includes them is durable; writes
 * that arrive during a rewrite are grouped into the next one. Plain passwords are written
 * only when the operator keeps them; HA1 digests always (`ha1`, `ha1_sha256`). It must not
 * be shared for writing by two processes: the last rewrite wins.
 */
import { basename, dirname, join } from "node:path";
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
  resolveDomain,
  settled,
  type StoreOptions,
  toAccount,
  toDomainEntry,
} from "./account_index.ts";
import { parseDatabaseFile } from "./sipws_request.ts";

/** Temp files older than this are leftovers of a killed writer and are removed at open. */
const STALE_TEMP_MS = 60_000;

let tempCounter = 0;

function tempPrefix(path: string): string {
  return `.${basename(path)}.`;
}

/**
 * Replaces `path` with `text` atomically and durably: temp file in the same folder,
 * fsync, rename, fsync of the folder (not possible on every platform: tried, then ignored).
 */
export async function writeFileAtomic(path: string, text: string, mode = 0o600): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `${tempPrefix(path)}${Deno.pid}.${++tempCounter}.tmp`);
  const bytes = new TextEncoder().encode(text);
  const file = await Deno.open(temp, { write: true, createNew: true, mode });
  try {
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
    await file.sync();
  } catch (e) {
    file.close();
    await Deno.remove(temp).catch(() => {});
    throw e;
  }
  file.close();
  try {
    await Deno.rename(temp, path);
  } catch (e) {
    await Deno.remove(temp).catch(() => {});
    throw e;
  }
  try {
    const folder = await Deno.open(dir, { read: true });
    try {
      await folder.sync();
    } finally {
      folder.close();
    }
  } catch {
    // Directories cannot be opened or fsynced on some platforms (Windows).
  }
}

/** One database file entry, SIPWS field names, keys in SIPWS's (alphabetical) order. */
function toEntry(a: Account): Record<string, unknown> {
  const entry: Record<string, unknown> = {};
  if (a.avail !== undefined) entry.avail = a.avail;
  if (a.cn !== undefined) entry.cn = a.cn;
  if (a.description !== undefined) entry.description = a.description;
  entry.domain = a.domain;
  if (a.expire !== undefined) entry.expire = a.expire;
  entry.ha1 = a.ha1.md5;
  entry.ha1_sha256 = a.ha1.sha256;
  const id = a.id ?? a.user;
  entry.id = id;
  if (a.image !== undefined) entry.image = a.image;
  if (a.origin !== undefined) entry.origin = a.origin;
  if (a.password !== undefined) entry.password = a.password;
  if (a.port !== undefined) entry.port = a.port;
  // SIPWS reads the user name from `id`; `user` only when they differ.
  if (id !== a.user) entry.user = a.user;
  return entry;
}

function block(items: unknown[]): string {
  if (items.length === 0) return "[]";
  return "[\n" + items.map((item) => "    " + JSON.stringify(item)).join(",\n") + "\n  ]";
}

/** The file text: one entry per line, like SIPWS's example. */
export function formatDatabaseFile(
  accounts: Account[],
  domains: DomainEntry[],
  version: number,
  extras: Record<string, unknown>,
): string {
  const parts = [`  "data": ${block(accounts.map(toEntry))}`];
  const top = { ...extras };
  // SIPWS expects a top-level domain; name the first one when the file had none.
  if (top.domain === undefined && domains.length > 0) top.domain = domains[0].domain;
  for (const [key, value] of Object.entries(top)) {
    parts.push(`  ${JSON.stringify(key)}: ${JSON.stringify(value)}`);
  }
  parts.push(`  "v": ${version}`);
  parts.push(`  "domains": ${block(domains)}`);
  return "{\n" + parts.join(",\n") + "\n}\n";
}

interface Waiter {
  resolve: () => void;
  reject: (e: Error) => void;
}

export class JsonFileStore extends IndexedAccountStore implements AccountStore {
  readonly kind = "json" as const;
  readonly path: string;
  #options: StoreOptions;
  #extras: Record<string, unknown> = {};
  #mode = 0o600;
  #closed = false;
  #droppedPasswords = false;
  /** The last text known to be on disk: what memory returns to when a rewrite fails. */
  #durable = "";
  #waiters: Waiter[] = [];
  #flushing = false;
  #idle: (() => void)[] = [];

  private constructor(path: string, options: StoreOptions) {
    super();
    this.path = path;
    this.#options = options;
  }

  /** Opens the database file at `path`, creating an empty one when it does not exist. */
  static async open(path: string, options: StoreOptions = {}): Promise<JsonFileStore> {
    const store = new JsonFileStore(path, options);
    const found = store.#readDisk();
    await store.#removeStaleTemps();
    // A new file is created at once; plain passwords the operator no longer keeps are
    // scrubbed at once (no registry change: the version stays).
    if (!found || store.#droppedPasswords) {
      const text = store.#serialize();
      await writeFileAtomic(path, text, store.#mode);
      store.#durable = text;
    }
    return store;
  }

  /**
   * Replaces the index with the file's content; false when the file does not exist.
   * Synchronous on purpose: no change can slip in between reading and swapping.
   */
  #readDisk(): boolean {
    let text: string;
    try {
      text = Deno.readTextFileSync(this.path);
      const mode = Deno.statSync(this.path).mode;
      if (mode !== null) this.#mode = mode & 0o777;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return false;
      throw new StoreError(`cannot read ${this.path}: ${(e as Error).message}`);
    }
    this.#loadText(text);
    return true;
  }

  /** Replaces the index with the content of a database file text. */
  #loadText(text: string): void {
    try {
      const file = parseDatabaseFile(JSON.parse(text));
      this.#droppedPasswords = !this.#options.storePlainPasswords &&
        file.accounts.some((a) => a.password !== undefined);
      const index = new AccountIndex();
      file.accounts.forEach((input, i) =>
        index.put(toAccount(input, this.#options, `data[${i}].`))
      );
      file.domains.forEach((entry, i) => index.setDomain(toDomainEntry(entry, `domains[${i}].`)));
      index.version = file.version;
      this.index = index;
      this.#extras = file.extras;
      this.#durable = text;
    } catch (e) {
      if (!(e instanceof StoreError)) throw new StoreError(`${this.path}: ${(e as Error).message}`);
      e.message = `${this.path}: ${e.message}`;
      throw e;
    }
  }

  async #removeStaleTemps(): Promise<void> {
    const dir = dirname(this.path);
    const prefix = tempPrefix(this.path);
    try {
      for await (const item of Deno.readDir(dir)) {
        if (!item.isFile || !item.name.startsWith(prefix) || !item.name.endsWith(".tmp")) continue;
        const temp = join(dir, item.name);
        const mtime = (await Deno.stat(temp)).mtime?.getTime() ?? 0;
        if (Date.now() - mtime > STALE_TEMP_MS) await Deno.remove(temp);
      }
    } catch {
      // Cleanup is best effort; a leftover temp file harms nothing.
    }
  }

  #serialize(): string {
    return formatDatabaseFile(
      this.index.list(),
      this.index.listDomains(),
      this.index.version,
      this.#extras,
    );
  }

  #checkOpen(): void {
    if (this.#closed) throw new StoreError(`store ${this.path} is closed`);
  }

  /** Bumps the version (the change is already in the index) and waits for durability. */
  #commit(): Promise<void> {
    this.index.version++;
    return new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      if (!this.#flushing) void this.#flushLoop();
    });
  }

  async #flushLoop(): Promise<void> {
    this.#flushing = true;
    try {
      // Let the rest of a synchronous burst of changes join this rewrite.
      await Promise.resolve();
      while (this.#waiters.length > 0) {
        const batch = this.#waiters.splice(0);
        try {
          const text = this.#serialize();
          await writeFileAtomic(this.path, text, this.#mode);
          this.#durable = text;
          for (const w of batch) w.resolve();
        } catch (e) {
          const error = new StoreError(`cannot write ${this.path}: ${(e as Error).message}`);
          for (const w of [...batch, ...this.#waiters.splice(0)]) w.reject(error);
          // Every change not on disk was rejected: memory goes back to the last durable
          // content (synchronously, so no new change interleaves).
          this.#loadText(this.#durable);
        }
      }
    } finally {
      this.#flushing = false;
      for (const done of this.#idle.splice(0)) done();
    }
  }

  putAccount(input: AccountInput): Promise<void> {
    return settled(() => {
      this.#checkOpen();
      this.index.put(toAccount(input, this.#options));
      return this.#commit();
    });
  }

  async deleteAccount(domain: string, user: string): Promise<boolean> {
    this.#checkOpen();
    if (!this.index.delete(normalizeDomain(String(domain)), String(user))) return false;
    await this.#commit();
    return true;
  }

  applyChanges(changes: AccountChange[]): Promise<void> {
    return settled(() => {
      this.#checkOpen();
      const resolved = resolveChanges(changes, this.#options);
      if (resolved.length === 0) return;
      for (const change of resolved) this.index.apply(change);
      return this.#commit();
    });
  }

  putDomain(entry: DomainEntry, users?: AccountInput[]): Promise<void> {
    return settled(() => {
      this.#checkOpen();
      const resolved = resolveDomain(entry, users, this.#options);
      this.index.replaceDomain(resolved.entry, resolved.users);
      return this.#commit();
    });
  }

  async deleteDomain(domain: string): Promise<boolean> {
    this.#checkOpen();
    if (!this.index.deleteDomain(normalizeDomain(String(domain)))) return false;
    await this.#commit();
    return true;
  }

  clear(domain?: string): Promise<void> {
    return settled(() => {
      this.#checkOpen();
      this.index.clear(domain === undefined ? undefined : String(domain));
      return this.#commit();
    });
  }

  /** Waits for pending rewrites, then re-reads the file. */
  async reload(): Promise<void> {
    this.#checkOpen();
    while (this.#flushing) await new Promise<void>((done) => this.#idle.push(done));
    if (!this.#readDisk()) throw new StoreError(`cannot read ${this.path}: file is gone`);
  }

  /** Stops accepting changes; rewrites already queued still complete. */
  close(): void {
    this.#closed = true;
  }
}
