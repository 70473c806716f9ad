/**
 * @module Reading SIPWS's JSON account documents: the control "put" request
 * (`{q:"put", domain, key, data:[{o, u, k, cn, description, i}], v}`, also the `-d` startup
 * file) and the `-b` "database" file (`{data:[{avail, cn, description, domain, expire, id,
 * image, origin, password, port}], domain, ip}`). It validates shapes and types and turns
 * entries into `AccountChange`s; every error names the bad field (`data[2].u`). It does no
 * I/O and does not hash: the stores do that.
 *
 * Database file extensions written by sipws (all optional on input; SIPWS ignores
 * them): per entry `ha1` and `ha1_sha256` (HA1 digests, realm = domain, used when
 * `password` is absent) and `user` (only when it differs from `id`, SIPWS's user name);
 * top level `v` (registry version) and `domains` (`[{domain, control, secret, calls}]`, also
 * accepted in a put request: `secret` signs that domain's callbacks, `calls: true` offers
 * its inbound calls to the control server).
 */
import { type AccountChange, type AccountInput, type DomainEntry, StoreError } from "./account.ts";

/** A parsed SIPWS document, either shape. */
export interface SipwsRequest {
  /** "put": a control put request; "database": a `-b` database file. */
  format: "put" | "database";
  /** Top-level `domain`, the default for entries that name none. */
  domain?: string;
  /** Control key of a put request (not checked for startup files). */
  key?: string;
  /** `v`: registry version carried by the document. */
  version?: number;
  /** Entries in document order: "+" → put, "-" → delete. */
  changes: AccountChange[];
  /** The accounts of the "put" changes, in order. */
  accounts: AccountInput[];
  /** Domain entries (sipws extension `domains` of the database file). */
  domains: DomainEntry[];
}

/** A parsed `-b` database file. */
export interface DatabaseFile {
  accounts: AccountInput[];
  domains: DomainEntry[];
  /** `v`, 0 when absent (a file written by SIPWS). */
  version: number;
  /** Other top-level keys (`domain`, `ip`, ...), written back unchanged. */
  extras: Record<string, unknown>;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function str(obj: Json, key: string, field: string): string | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw new StoreError("must be a string", field);
  return value;
}

/** SIPWS writes some numbers as strings ("avail":"0", "id":"100") and others not. */
function strOrNumber(obj: Json, key: string, field: string): string | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  if (typeof value !== "string") throw new StoreError("must be a string", field);
  return value;
}

function int(obj: Json, key: string, field: string, max: number): number | undefined {
  const value = obj[key];
  if (value === undefined || value === null || value === "") return undefined;
  const n = typeof value === "string" && /^\d+$/.test(value.trim()) ? Number(value.trim()) : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > max) {
    throw new StoreError(`must be an integer 0..${max}`, field);
  }
  return n;
}

function requiredName(value: string | undefined, field: string): string {
  if (value === undefined || value === "") throw new StoreError("is required", field);
  return value;
}

/** SIPWS fields shared by both entry shapes. */
function commonFields(entry: Json, at: string, input: AccountInput): void {
  const cn = str(entry, "cn", `${at}.cn`);
  if (cn !== undefined) input.cn = cn;
  const description = str(entry, "description", `${at}.description`);
  if (description !== undefined) input.description = description;
  const avail = strOrNumber(entry, "avail", `${at}.avail`);
  if (avail !== undefined) input.avail = avail;
  const origin = str(entry, "origin", `${at}.origin`);
  if (origin !== undefined) input.origin = origin;
  const port = int(entry, "port", `${at}.port`, 65535);
  if (port !== undefined) input.port = port;
  const expire = int(entry, "expire", `${at}.expire`, 2 ** 31 - 1);
  if (expire !== undefined) input.expire = expire;
  const md5 = str(entry, "ha1", `${at}.ha1`);
  const sha256 = str(entry, "ha1_sha256", `${at}.ha1_sha256`);
  if (md5 !== undefined || sha256 !== undefined) {
    if (md5 === undefined) throw new StoreError("is required with ha1_sha256", `${at}.ha1`);
    if (sha256 === undefined) throw new StoreError("is required with ha1", `${at}.ha1_sha256`);
    input.ha1 = { md5, sha256 };
  }
}

function needsSecret(input: AccountInput, at: string, passwordKey: string): void {
  if (input.password === undefined && input.ha1 === undefined) {
    throw new StoreError("is required (or ha1 and ha1_sha256)", `${at}.${passwordKey}`);
  }
}

function version(doc: Json): number | undefined {
  return int(doc, "v", "v", Number.MAX_SAFE_INTEGER);
}

function domainEntries(doc: Json): DomainEntry[] {
  const list = doc.domains;
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw new StoreError("must be an array", "domains");
  return list.map((item, i) => {
    const at = `domains[${i}]`;
    if (!isObject(item)) throw new StoreError("must be an object", at);
    const domain = requiredName(str(item, "domain", `${at}.domain`), `${at}.domain`);
    const entry: DomainEntry = { domain };
    const control = str(item, "control", `${at}.control`);
    if (control !== undefined) entry.control = control;
    const secret = str(item, "secret", `${at}.secret`);
    if (secret !== undefined) entry.secret = secret;
    if (item.calls !== undefined && item.calls !== null) {
      if (typeof item.calls !== "boolean") {
        throw new StoreError("must be true or false", `${at}.calls`);
      }
      if (item.calls) entry.calls = true;
    }
    return entry;
  });
}

function dataArray(doc: Json): unknown[] {
  if (!Array.isArray(doc.data)) throw new StoreError("must be an array", "data");
  return doc.data;
}

/** Parses a `-b` database file (already JSON-decoded). */
export function parseDatabaseFile(doc: unknown): DatabaseFile {
  if (!isObject(doc)) throw new StoreError("must be a JSON object", "(document)");
  const topDomain = str(doc, "domain", "domain");
  const accounts = dataArray(doc).map((entry, i): AccountInput => {
    const at = `data[${i}]`;
    if (!isObject(entry)) throw new StoreError("must be an object", at);
    const id = strOrNumber(entry, "id", `${at}.id`);
    const user = str(entry, "user", `${at}.user`) ?? id;
    const domain = str(entry, "domain", `${at}.domain`) || topDomain;
    const input: AccountInput = {
      domain: requiredName(domain, `${at}.domain`),
      user: requiredName(user, `${at}.id`),
    };
    if (id !== undefined) input.id = id;
    const password = str(entry, "password", `${at}.password`);
    if (password !== undefined) input.password = password;
    const image = str(entry, "image", `${at}.image`);
    if (image !== undefined) input.image = image;
    commonFields(entry, at, input);
    needsSecret(input, at, "password");
    return input;
  });
  const extras: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(doc)) {
    if (key !== "data" && key !== "v" && key !== "domains") extras[key] = value;
  }
  return { accounts, domains: domainEntries(doc), version: version(doc) ?? 0, extras };
}

function parsePut(doc: Json): SipwsRequest {
  const domain = str(doc, "domain", "domain") || undefined;
  const key = str(doc, "key", "key");
  // A put that only sets domain entries may leave `data` out.
  const data = doc.data === undefined && doc.domains !== undefined ? [] : dataArray(doc);
  const changes = data.map((entry, i): AccountChange => {
    const at = `data[${i}]`;
    if (!isObject(entry)) throw new StoreError("must be an object", at);
    const o = entry.o ?? "+";
    const user = requiredName(
      str(entry, "u", `${at}.u`) ?? strOrNumber(entry, "id", `${at}.u`),
      `${at}.u`,
    );
    const entryDomain = requiredName(str(entry, "domain", `${at}.domain`) || domain, "domain");
    if (o === "-") return { op: "delete", domain: entryDomain, user };
    if (o !== "+") throw new StoreError('must be "+" or "-"', `${at}.o`);
    const account: AccountInput = { domain: entryDomain, user };
    const password = str(entry, "k", `${at}.k`) ?? str(entry, "password", `${at}.k`);
    if (password !== undefined) account.password = password;
    const image = str(entry, "i", `${at}.i`) ?? str(entry, "image", `${at}.i`);
    if (image !== undefined) account.image = image;
    const id = strOrNumber(entry, "id", `${at}.id`);
    if (id !== undefined) account.id = id;
    commonFields(entry, at, account);
    needsSecret(account, at, "k");
    return { op: "put", account };
  });
  return {
    format: "put",
    domain,
    key,
    version: version(doc),
    changes,
    accounts: changes.flatMap((c) => c.op === "put" ? [c.account] : []),
    domains: domainEntries(doc),
  };
}

/**
 * Parses a decoded SIPWS document: a put request (has `q`, which must be "put") or a
 * database file (no `q`). Throws `StoreError` naming the bad field.
 */
export function parseSipwsRequest(doc: unknown): SipwsRequest {
  if (!isObject(doc)) throw new StoreError("must be a JSON object", "(document)");
  if (doc.q !== undefined) {
    if (doc.q !== "put") throw new StoreError('must be "put"', "q");
    return parsePut(doc);
  }
  const db = parseDatabaseFile(doc);
  return {
    format: "database",
    domain: typeof db.extras.domain === "string" ? db.extras.domain : undefined,
    version: doc.v === undefined ? undefined : db.version,
    changes: db.accounts.map((account) => ({ op: "put", account })),
    accounts: db.accounts,
    domains: db.domains,
  };
}

/** Decodes JSON text then `parseSipwsRequest`; `source` (a file name) prefixes errors. */
export function parseSipwsRequestText(text: string, source = "request"): SipwsRequest {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new StoreError(`${source}: not valid JSON: ${(e as Error).message}`);
  }
  try {
    return parseSipwsRequest(doc);
  } catch (e) {
    if (e instanceof StoreError) e.message = `${source}: ${e.message}`;
    throw e;
  }
}
