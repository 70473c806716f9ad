/**
 * @module Picks and opens the account store from configuration: SIPWS's JSON database
 * file when `-b` is given, else the embedded sqlite file; then applies the `-d` startup
 * request (a SIPWS put request or a database-format file) as one change. Registrations
 * live beside the accounts (same sqlite file, or the JSON file's sibling). It takes only
 * the config fields it needs, so the store stays a leaf that does not import src/config.
 */
import type { AccountStore } from "./account.ts";
import { StoreError } from "./account.ts";
import { bindingsFileFor, type BindingStore } from "./binding_store.ts";
import { JsonBindingStore } from "./json_binding_store.ts";
import { JsonFileStore } from "./json_file_store.ts";
import { parseSipwsRequestText, type SipwsRequest } from "./sipws_request.ts";
import { RedisAccountStore } from "./redis_account_store.ts";
import type { RedisOptions } from "./redis_client.ts";
import { SqliteBindingStore } from "./sqlite_binding_store.ts";
import { SqliteStore } from "./sqlite_store.ts";

/** The part of `Config` the store reads (a `Config` is one). */
export interface StoreConfig {
  /** `-b`: JSON database file; when set it is the store. */
  dbFile?: string;
  /** Embedded sqlite path, used when `dbFile` is not set. */
  storePath: string;
  /** `-d`: startup request applied after opening. */
  dataFile?: string;
  storePlainPasswords: boolean;
  /** When `redis` is set, accounts live in the cluster's Redis instead. */
  cluster?: { redis: string; redisCaFile?: string };
}

/** Reads and validates a startup request file; errors name the file and the field. */
export async function readSipwsRequestFile(path: string): Promise<SipwsRequest> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new StoreError(`cannot read ${path}: ${(e as Error).message}`);
  }
  return parseSipwsRequestText(text, path);
}

/**
 * Applies a parsed SIPWS request: its domain entries (sipws extension; the fields given
 * replace those of the current entry, `""` clears one) and then all of its "+"/"-"
 * entries as one atomic change (one version bump). The request's key is not checked here.
 */
export async function applySipwsRequest(store: AccountStore, request: SipwsRequest): Promise<void> {
  for (const entry of request.domains) {
    if (entry.control === undefined && entry.secret === undefined && !entry.calls) continue;
    const merged = { ...store.getDomain(entry.domain), ...entry };
    if (merged.control === "") delete merged.control;
    await store.putDomain(merged);
  }
  await store.applyChanges(request.changes);
}

/** The CA file of a `rediss://` cluster Redis, read. */
export async function redisOptions(cluster: { redisCaFile?: string }): Promise<RedisOptions> {
  if (!cluster.redisCaFile) return {};
  try {
    return { ca: await Deno.readTextFile(cluster.redisCaFile) };
  } catch (e) {
    throw new StoreError(`cannot read ${cluster.redisCaFile}: ${(e as Error).message}`);
  }
}

/** Opens the store the config names, then applies `config.dataFile` when set. */
export async function openStore(config: StoreConfig): Promise<AccountStore> {
  const options = { storePlainPasswords: config.storePlainPasswords };
  // Parse the startup request first: a bad file must fail before anything is opened.
  const request = config.dataFile ? await readSipwsRequestFile(config.dataFile) : undefined;
  const store: AccountStore = config.cluster?.redis
    ? await RedisAccountStore.open(
      config.cluster.redis,
      options,
      await redisOptions(config.cluster),
    )
    : config.dbFile
    ? await JsonFileStore.open(config.dbFile, options)
    : SqliteStore.open(config.storePath, options);
  try {
    if (request) await applySipwsRequest(store, request);
  } catch (e) {
    store.close();
    throw e;
  }
  return store;
}

/** Where registrations are kept: the sqlite file itself, or the JSON database's sibling. */
export function openBindingStore(config: StoreConfig): BindingStore {
  return config.dbFile
    ? new JsonBindingStore(bindingsFileFor(config.dbFile))
    : SqliteBindingStore.open(config.storePath);
}
