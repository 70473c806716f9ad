/**
 * @module `sipws.toml` → a typed patch over `Config`. It owns the schema of every configuration
 * key (its TOML name, kind, range and one-line meaning), `ConfigError`, and the rule that a bad
 * file fails fast with `FILE:LINE: KEY: what is wrong`. It reads no files and knows nothing of
 * flags or search order (see load.ts); it imports only config.ts and sip types.
 */

import { parse, TomlError } from "smol-toml";
import { parseCidr } from "../sip/cidr.ts";
import { type Config, defaultConfig } from "./config.ts";

/** One configuration problem, located as precisely as the source allows. */
export class ConfigError extends Error {
  readonly file: string;
  readonly line?: number;
  readonly key?: string;
  readonly detail: string;
  constructor(file: string, line: number | undefined, key: string | undefined, detail: string) {
    const where = line === undefined ? file : `${file}:${line}`;
    super(key === undefined ? `${where}: ${detail}` : `${where}: ${key}: ${detail}`);
    this.name = "ConfigError";
    this.file = file;
    this.line = line;
    this.key = key;
    this.detail = detail;
  }
}

/** The kind of a value and its constraints. */
export type Spec =
  | { kind: "port"; doc: string }
  | { kind: "int"; min: number; max: number; doc: string }
  | { kind: "string"; doc: string; path?: boolean; secret?: boolean }
  | { kind: "bool"; doc: string }
  | { kind: "enum"; values: readonly string[]; doc: string }
  | { kind: "strings"; doc: string }
  | { kind: "cidrs"; doc: string }
  | { kind: "digests"; doc: string };

type Leaf<T> = T extends unknown[] ? Spec : T extends object ? { [K in keyof T]-?: Spec } : Spec;

/** Every key of `Config`, typed so that a new Config field without a schema entry fails to compile. */
export type Schema = { [K in keyof Config]-?: Leaf<Config[K]> };

const port = (doc: string): Spec => ({ kind: "port", doc });
const int = (min: number, max: number, doc: string): Spec => ({ kind: "int", min, max, doc });
const str = (doc: string): Spec => ({ kind: "string", doc });
const path = (doc: string): Spec => ({ kind: "string", doc, path: true });
const bool = (doc: string): Spec => ({ kind: "bool", doc });

export const SCHEMA: Schema = {
  interface: str("address to bind (-i); 0.0.0.0 binds every IPv4 and IPv6 address"),
  udpPort: port("SIP over UDP port (-u); absent disables UDP"),
  tcpPort: port("SIP over TCP port (-t); absent disables TCP"),
  tlsPort: port("SIP over TLS port (--tls-port); absent disables TLS"),
  wsPort: port("SIP over WebSocket port (-p); absent disables WS"),
  wssPort: port("SIP over secure WebSocket port (-s); absent disables WSS"),
  httpPort: port("HTTP control API port (-r); absent disables the API"),
  workers: int(
    0,
    256,
    "SIP worker threads sharing every port (--workers); 0 (default): one per CPU core",
  ),
  certificate: path("certificate PEM file for TLS and WSS (-c)"),
  privateKey: path("private key PEM file for TLS and WSS (-k)"),
  certificatePoll: int(
    0,
    3600,
    "seconds between checks of the certificate/key files; a changed pair is loaded (0: never)",
  ),
  certificatePassword: { kind: "string", doc: "private key password (-w)", secret: true },
  dataFile: path("startup request JSON file (-d)"),
  dbFile: path("writeable JSON database file (-b)"),
  storePath: path("embedded sqlite store, used when db_file is absent (--store)"),
  storePlainPasswords: bool("keep plain passwords in the store, not only HA1 digests"),
  foreground: bool("stay attached and log to stderr (-f)"),
  verbosity: int(0, 3, "0 fatal only, 1 error, 2 warning, 3 debug (-v, -vv, -vvv)"),
  locale: str("locale name, e.g. ru_RU.UTF-8 (-l)"),
  utf8: bool("locale uses UTF-8 (-8)"),
  keys: { kind: "strings", doc: "keys valid for the HTTP control API (positional <key>...)" },
  tui: bool("terminal dashboard (--tui)"),
  logFormat: { kind: "enum", values: ["text", "json"], doc: "log line format (--log-format)" },
  logFile: path("also append log lines to this file (--log-file)"),
  pidFile: path("pid file written in daemon mode (--pid-file)"),
  sip: {
    domains: { kind: "strings", doc: "domains served; empty serves every domain with accounts" },
    digestAlgorithms: { kind: "digests", doc: "challenge order; browsers read only the first" },
    nonceTtl: int(1, 86400, "seconds a nonce stays fresh before stale=true"),
    minExpires: int(1, 86400, "smallest registration expiry accepted (else 423)"),
    maxExpires: int(1, 604800, "largest registration expiry granted"),
    defaultExpires: int(1, 604800, "expiry when the REGISTER names none"),
    allowForeignDomains: bool("let requests for other domains through instead of 403"),
    t1: int(1, 60000, "RFC 3261 T1 in milliseconds"),
    t2: int(1, 600000, "RFC 3261 T2 in milliseconds"),
    t4: int(1, 600000, "RFC 3261 T4 in milliseconds"),
    timerC: int(
      100,
      3600000,
      "proxy Timer C in milliseconds: an unanswered INVITE branch is cancelled",
    ),
    dialogTimeout: int(
      1,
      604800,
      "seconds a dialog is tracked without a BYE seen (lost BYEs must not pin it forever)",
    ),
    maxMessageSize: int(1024, 16777216, "largest message accepted on any transport, bytes"),
    udpReceiveBuffer: int(
      0,
      67108864,
      "UDP receive buffer asked of the kernel (SO_RCVBUF, capped by net.core.rmem_max), bytes; 0: OS default",
    ),
    overloadLagMs: int(
      0,
      60000,
      "event-loop delay, ms, past which new requests on TCP, TLS, WS and WSS get 503 + Retry-After; 0: never",
    ),
    overloadMemoryMb: int(
      0,
      1048576,
      "resident memory per SIP worker, MiB (the process's RSS against this times workers), past which new requests (INVITE, REGISTER, ... without credentials) get 503 + Retry-After until it is back under 90 %; in-dialog requests and responses still pass; 0: never",
    ),
    tcpBindings: {
      kind: "enum",
      values: ["flow", "contact"],
      doc:
        "TCP/TLS bindings when their connection closes: contact keeps those whose Contact is the REGISTER's source address (no Outbound) and reaches them anew; flow drops them all",
    },
    tcpContactNetworks: {
      kind: "cidrs",
      doc:
        "CIDRs of TCP/TLS Contacts kept (tcp_bindings = contact) although the REGISTER came from another address: networks the proxy routes into",
    },
    userAgent: str("name in Server and User-Agent headers"),
    secret: {
      kind: "string",
      secret: true,
      doc:
        "key for flow tokens and digest nonces, shared by every worker and node; unset: random per process",
    },
    previousSecret: {
      kind: "string",
      secret: true,
      doc: "the secret before the last rotation: its flow tokens and nonces are still accepted",
    },
  },
  websocket: {
    allowedOrigins: {
      kind: "strings",
      doc: 'allowed Origins, exact or patterns like "https://*.example.com"; empty allows all',
    },
    checkHost: bool("refuse a handshake whose Host is not a served domain, alias or our address"),
    hostAliases: {
      kind: "strings",
      doc: 'other names clients reach sipws by, accepted by check_host: "sip.example.com"',
    },
    cors: {
      kind: "enum",
      values: ["none", "any", "origin"],
      doc: 'Access-Control-Allow-Origin on the 101: "none", "any" (*), "origin" (echoed)',
    },
    keepaliveInterval: int(0, 86400, "seconds between CRLF keep-alives to clients; 0 disables"),
    pingInterval: int(
      0,
      86400,
      "seconds of silence after which a client gets a WebSocket ping; 0 disables pings and idle closes",
    ),
    pingTimeout: int(
      1,
      86400,
      "seconds after that ping with nothing from the client (no pong, no data) before it is closed",
    ),
    maxHeaderSize: int(
      1024,
      1048576,
      "largest handshake request head, bytes; a longer one is answered 431 and closed",
    ),
    maxMessageSize: int(
      1024,
      16777216,
      "largest WebSocket message (all fragments), bytes; a larger one is dropped unread",
    ),
    maxFragments: int(
      0,
      100000,
      "most frames one message may come in; more closes the connection (1009); 0: no limit",
    ),
    handshakeTimeout: int(
      1,
      300,
      "seconds from connect (TLS included) to a complete upgrade request, else dropped",
    ),
    sendTimeout: int(
      0,
      3600000,
      "milliseconds a write may wait on a client that reads nothing before it is closed; 0: never",
    ),
    clientCaFile: {
      kind: "string",
      path: true,
      doc: "WS client mode: PEM CA file a wss next hop must chain to (default: system roots)",
    },
  },
  ping: {
    interval: int(0, 86400, "seconds between OPTIONS pings to registered contacts; 0 disables"),
    maxMisses: int(1, 1000, "missed pings after which a binding is removed"),
  },
  abuse: {
    enabled: bool("abuse protection on: bans, rate limit and connection caps below"),
    banAfter: int(1, 100000, "failed authentications from one address that ban it"),
    banWindow: int(1, 86400, "seconds over which failed authentications are counted"),
    banTime: int(
      1,
      604800,
      "seconds a ban lasts; it doubles on each repeat within a day (at most 64 times)",
    ),
    rateLimit: int(
      0,
      1000000,
      "requests per second from one address, and on one TCP/TLS/WS connection; over it: 503; 0 disables",
    ),
    maxConnectionsPerSource: int(0, 1000000, "open connections from one address; 0 disables"),
    maxConnections: int(0, 10000000, "open connections in all; 0 disables"),
    trusted: {
      kind: "cidrs",
      doc: "CIDRs exempt from bans, rate limits and connection caps (e.g. an SBC, a NAT)",
    },
  },
  cluster: {
    redis: {
      kind: "string",
      doc:
        "Redis URL shared by the nodes (redis:// or rediss://, password inside); empty: standalone",
      secret: true,
    },
    redisCaFile: path("CA certificate (PEM) of a rediss:// server; absent: the system's roots"),
    nodeId: str("this node's name in the cluster; empty: the host name"),
    advertise: str("SIP URI the other nodes relay to; empty: this node's first UDP/TCP address"),
    heartbeatTtl: int(3, 3600, "seconds a node's heartbeat lives; then its flow-bound bindings go"),
  },
  callbacks: {
    retries: int(0, 100, "attempts per control-server callback before it is dropped"),
    backoffMs: int(1, 3600000, "first retry delay in milliseconds, doubled each time"),
    timeoutMs: int(1, 3600000, "callback request timeout in milliseconds"),
    secret: {
      kind: "string",
      doc: "HMAC-SHA256 key signing callbacks (X-Sipws-Signature); a domain's secret wins",
      secret: true,
    },
    failedKept: int(0, 100000, "failed callbacks kept for GET /callbacks/failed; 0 keeps none"),
  },
  api: {
    maxCalls: int(1, 1000000, "open calls placed or held through the API; more get 503"),
    ackTimeout: int(
      1,
      600,
      "seconds to post the answer of a late-offer call before sipws hangs up",
    ),
    decisionTimeoutMs: int(
      100,
      60000,
      "milliseconds to wait for the control server's decision on an inbound call (else proxy)",
    ),
  },
};

/** Names of the `[table]` sections of the file (the object-valued keys of Config). */
export const TABLES = ["sip", "websocket", "ping", "abuse", "cluster", "callbacks", "api"] as const;
export type TableName = typeof TABLES[number];

/** A partial Config: what one source (file or flags) sets. */
export type ConfigPatch =
  & Partial<Omit<Config, TableName>>
  & { [T in TableName]?: Partial<Config[T]> };

export function camelToSnake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase());
}

export function snakeToCamel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

function isSpec(v: unknown): v is Spec {
  return typeof v === "object" && v !== null && "kind" in v;
}

/** Every key as its TOML dotted path (`udp_port`, `sip.t1`), in schema order. */
export function schemaKeys(): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(SCHEMA)) {
    if (isSpec(v)) out.push(camelToSnake(k));
    else for (const j of Object.keys(v)) out.push(`${k}.${camelToSnake(j)}`);
  }
  return out;
}

/** The spec of a dotted TOML key, if it exists. */
export function specOf(dotted: string): Spec | undefined {
  const parts = dotted.split(".");
  const top = (SCHEMA as unknown as Record<string, Spec | Record<string, Spec>>)[
    snakeToCamel(parts[0])
  ];
  if (parts.length === 1) return isSpec(top) ? top : undefined;
  if (parts.length !== 2 || top === undefined || isSpec(top)) return undefined;
  return top[snakeToCamel(parts[1])];
}

/** Levenshtein distance; small inputs only (key names). */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length];
}

/** The known key nearest to `dotted`, spelled as it would be written where it belongs. */
export function nearestKey(dotted: string): string | undefined {
  const leaf = dotted.split(".").pop()!;
  let best: string | undefined;
  let bestScore = Infinity;
  for (const k of [...schemaKeys(), ...TABLES]) {
    const kLeaf = k.split(".").pop()!;
    // Compare the full path and the leaf alone so `t1` at top level finds `sip.t1`.
    let score = Math.min(distance(dotted, k), distance(leaf, kLeaf) + 0.5);
    // A fragment of a longer name (`origins` for `allowed_origins`) is a likely slip too.
    if (leaf.length >= 4 && kLeaf !== leaf && (kLeaf.includes(leaf) || leaf.includes(kLeaf))) {
      const sameTable = dotted.includes(".") && k.startsWith(dotted.split(".")[0] + ".");
      score = Math.min(score, sameTable ? 1 : 1.5);
    }
    if (score < bestScore) {
      bestScore = score;
      best = k;
    }
  }
  if (best === undefined || bestScore > Math.max(2, leaf.length / 2)) return undefined;
  return best;
}

function hint(dotted: string): string {
  const near = nearestKey(dotted);
  if (near === undefined) return "unknown key";
  const [table, key] = near.includes(".") ? near.split(".") : [undefined, near];
  const spelled = table === undefined ? `'${key}'` : `'${key}' in [${table}]`;
  return `unknown key (did you mean ${spelled}?)`;
}

/** Check one value against its spec; returns the value typed or an error text. */
export function checkValue(spec: Spec, v: unknown): { ok: true; value: unknown } | {
  ok: false;
  error: string;
} {
  const shown = (x: unknown) => typeof x === "string" ? `'${x}'` : String(x);
  switch (spec.kind) {
    case "port":
      if (typeof v !== "number" || !Number.isInteger(v)) {
        return { ok: false, error: `expected a port number, got ${typeName(v)}` };
      }
      if (v < 1 || v > 65535) return { ok: false, error: `port ${v} out of range 1-65535` };
      return { ok: true, value: v };
    case "int":
      if (typeof v !== "number" || !Number.isInteger(v)) {
        return { ok: false, error: `expected an integer, got ${typeName(v)}` };
      }
      if (v < spec.min || v > spec.max) {
        return { ok: false, error: `${v} out of range ${spec.min}-${spec.max}` };
      }
      return { ok: true, value: v };
    case "string":
      if (typeof v !== "string") {
        return { ok: false, error: `expected a string, got ${typeName(v)}` };
      }
      if (spec.path && v === "") return { ok: false, error: "expected a file name, got ''" };
      return { ok: true, value: v };
    case "bool":
      if (typeof v !== "boolean") {
        return { ok: false, error: `expected true or false, got ${typeName(v)}` };
      }
      return { ok: true, value: v };
    case "enum":
      if (typeof v !== "string" || !spec.values.includes(v)) {
        return {
          ok: false,
          error: `expected one of ${spec.values.map((x) => `'${x}'`).join(", ")}, got ${shown(v)}`,
        };
      }
      return { ok: true, value: v };
    case "strings":
      if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
        return { ok: false, error: `expected an array of strings, got ${typeName(v)}` };
      }
      return { ok: true, value: [...v] };
    case "cidrs": {
      if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
        return { ok: false, error: `expected an array of CIDR strings, got ${typeName(v)}` };
      }
      for (const x of v) {
        try {
          parseCidr(x);
        } catch (e) {
          return { ok: false, error: (e as Error).message };
        }
      }
      return { ok: true, value: [...v] };
    }
    case "digests": {
      const allowed = ["MD5", "SHA-256"];
      if (!Array.isArray(v) || v.length === 0) {
        return { ok: false, error: `expected a non-empty array of "MD5", "SHA-256"` };
      }
      for (const x of v) {
        if (typeof x !== "string" || !allowed.includes(x)) {
          return {
            ok: false,
            error: `unknown digest algorithm ${shown(x)} (use "MD5", "SHA-256")`,
          };
        }
      }
      if (new Set(v).size !== v.length) return { ok: false, error: "algorithm listed twice" };
      return { ok: true, value: [...v] };
    }
  }
}

function typeName(v: unknown): string {
  if (Array.isArray(v)) return "an array";
  if (v === null) return "null";
  if (typeof v === "number") return Number.isInteger(v) ? `integer ${v}` : `float ${v}`;
  if (typeof v === "string") return `string '${v}'`;
  if (typeof v === "boolean") return `boolean ${v}`;
  if (typeof v === "object") return v.constructor?.name === "TomlDate" ? "a date" : "a table";
  return typeof v;
}

/**
 * Finds the line of `key` inside `[table]` (or at top level) by scanning the source, since
 * smol-toml reports no positions for values. Returns undefined when the key is not written
 * plainly (e.g. inside an inline table), so callers fall back to the table's line.
 */
export function lineOfKey(
  source: string,
  table: string | undefined,
  key: string,
): number | undefined {
  const lines = source.split(/\r?\n/);
  let current: string | undefined = undefined;
  const esc = key.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const keyRe = new RegExp(`^\\s*(?:${esc}|"${esc}"|'${esc}')\\s*=`);
  const dottedRe = table === undefined
    ? undefined
    : new RegExp(`^\\s*${table}\\s*\\.\\s*(?:${esc}|"${esc}")\\s*=`);
  let tableLine: number | undefined;
  for (let i = 0; i < lines.length; i++) {
    const header = /^\s*\[\s*([^\]]+?)\s*\]/.exec(lines[i]);
    if (header && !lines[i].trim().startsWith("[[")) {
      current = header[1].replace(/["']/g, "");
      // A top-level key may be written as a table header: `[websockets]`.
      if (table === undefined && (current === key || current.startsWith(key + "."))) return i + 1;
      if (current === table && tableLine === undefined) tableLine = i + 1;
      continue;
    }
    if (current === table && keyRe.test(lines[i])) return i + 1;
    if (current === undefined && dottedRe?.test(lines[i])) return i + 1;
    if (current === undefined && table !== undefined && tableLine === undefined) {
      if (new RegExp(`^\\s*${table}\\s*=`).test(lines[i])) tableLine = i + 1;
    }
  }
  return tableLine;
}

/**
 * Parses `sipws.toml` text into a validated patch. `file` names the file in errors;
 * `baseDir`, when given, makes relative file names in the file relative to that folder.
 */
export function parseTomlConfig(source: string, file: string, baseDir?: string): ConfigPatch {
  let doc: Record<string, unknown>;
  try {
    doc = parse(source) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof TomlError) {
      const first = e.message.split("\n")[0].replace(/^Invalid TOML document:\s*/, "");
      throw new ConfigError(file, e.line, undefined, `TOML syntax error: ${first}`);
    }
    throw e;
  }
  const patch: Record<string, unknown> = {};
  const fail = (table: string | undefined, key: string, detail: string): never => {
    const dotted = table === undefined ? key : `${table}.${key}`;
    throw new ConfigError(file, lineOfKey(source, table, key), dotted, detail);
  };
  const place = (spec: Spec, value: unknown): unknown => {
    if (spec.kind === "string" && spec.path && baseDir !== undefined) {
      return resolvePath(baseDir, value as string);
    }
    return value;
  };
  for (const [key, value] of Object.entries(doc)) {
    const camel = snakeToCamel(key);
    const top = (SCHEMA as unknown as Record<string, Spec | Record<string, Spec>>)[camel];
    if (top === undefined || camelToSnake(camel) !== key) fail(undefined, key, hint(key));
    if (isSpec(top)) {
      const r = checkValue(top, value);
      if (!r.ok) fail(undefined, key, r.error);
      else patch[camel] = place(top, r.value);
      continue;
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      fail(undefined, key, `expected a table [${key}], got ${typeName(value)}`);
    }
    const section: Record<string, unknown> = {};
    for (const [sub, v] of Object.entries(value as Record<string, unknown>)) {
      const subCamel = snakeToCamel(sub);
      const spec = top[subCamel];
      if (spec === undefined || camelToSnake(subCamel) !== sub) {
        fail(key, sub, hint(`${key}.${sub}`));
      }
      const r = checkValue(spec, v);
      if (!r.ok) fail(key, sub, r.error);
      else section[subCamel] = place(spec, r.value);
    }
    patch[camel] = section;
  }
  checkCoherence(patch as ConfigPatch, (table, key, detail) => fail(table, key, detail));
  return patch as ConfigPatch;
}

/** Cross-key rules a single key's range cannot express; checked on the merged view. */
export function checkCoherence(
  patch: ConfigPatch,
  fail: (table: string | undefined, key: string, detail: string) => never,
): void {
  const d = defaultConfig().sip;
  const sip = { ...d, ...patch.sip };
  if (patch.sip?.t2 !== undefined || patch.sip?.t1 !== undefined) {
    if (sip.t2 < sip.t1) {
      fail("sip", patch.sip?.t2 !== undefined ? "t2" : "t1", `t2 (${sip.t2}) below t1 (${sip.t1})`);
    }
  }
  if (patch.sip?.minExpires !== undefined || patch.sip?.maxExpires !== undefined) {
    if (sip.maxExpires < sip.minExpires) {
      const k = patch.sip?.maxExpires !== undefined ? "max_expires" : "min_expires";
      fail("sip", k, `max_expires (${sip.maxExpires}) below min_expires (${sip.minExpires})`);
    }
  }
}

function resolvePath(baseDir: string, p: string): string {
  if (p.startsWith("/") || /^[A-Za-z]:[\\/]/.test(p) || p.startsWith("\\\\")) return p;
  const sep = baseDir.includes("\\") && !baseDir.includes("/") ? "\\" : "/";
  return baseDir.endsWith(sep) ? baseDir + p : baseDir + sep + p;
}

/** Deep-merges patches over a base Config (later patches win); arrays are replaced whole. */
export function applyPatch(base: Config, ...patches: ConfigPatch[]): Config {
  const out = structuredClone(base) as unknown as Record<string, unknown>;
  for (const patch of patches) {
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined) continue;
      if ((TABLES as readonly string[]).includes(k)) {
        out[k] = { ...(out[k] as Record<string, unknown>), ...(v as Record<string, unknown>) };
      } else {
        out[k] = Array.isArray(v) ? [...v] : v;
      }
    }
  }
  return out as unknown as Config;
}
