/**
 * @module The proxy's own marks in a request (RFC 3261 §16.6, RFC 5393, RFC 5626 §5.3):
 * Record-Route entries carrying signed flow tokens for both legs of a dialog, the branch
 * of our Via with its loop-detection hash, and the recognition of our own Route entries.
 * Pure functions over strings plus an HMAC key; it never sends and never looks up
 * bindings (proxy.ts decides what a token means for routing).
 */
import { Buffer } from "node:buffer";
import { randomBytes } from "node:crypto";
import { isToken } from "../sip/headers.ts";
import { HEX, randomHex } from "../sip/ids.ts";
import type { SipRequest } from "../sip/message.ts";
import { HmacSha256 } from "../sip/sha256.ts";
import { formatHost, parseHostPort, type SipUri } from "../sip/uri.ts";
import type { Via } from "../sip/via.ts";
import { tagParam } from "../sip/tag.ts";
import type { Address, Flow, Target, TransportName } from "../transport/types.ts";
import { RELAY_TOKEN } from "./cluster_view.ts";

/** Every branch we create starts with this: the RFC 3261 cookie plus our mark. */
export const BRANCH_PREFIX = "z9hG4bK-sw-";

/** Record-Route URI parameters: the caller's From tag and the two legs' flow tokens. */
export const FTAG = "ftag";
export const CALLER_TOKEN = "swa";
export const CALLEE_TOKEN = "swb";

/**
 * Signs and reads flow tokens (RFC 5626 §5.2 style): a stream flow is named by its
 * globally unique id (which says which worker and node own it), a UDP "flow" by the
 * remote address. The HMAC keeps a UA from steering our requests onto another user's
 * connection. The key comes from configuration so every worker and node reads the
 * tokens of the others; after a rotation tokens signed with the previous key still pass.
 */
export class FlowTokens {
  #key!: HmacSha256;
  #previous?: HmacSha256;
  /**
   * Tokens made and tokens read, by flow description and by token: a call signs and reads
   * the same few flows' tokens several times (Record-Route, then every in-dialog request).
   * Cleared when full and on a key change.
   */
  readonly #signed = new Map<string, string>();
  readonly #read = new Map<string, Decoded>();

  constructor(key: Uint8Array = randomBytes(20), previous?: Uint8Array) {
    this.setSecrets(key, previous);
  }

  setSecrets(key: Uint8Array, previous?: Uint8Array): void {
    this.#key = new HmacSha256(key);
    this.#previous = previous && new HmacSha256(previous);
    this.#signed.clear();
    this.#read.clear();
  }

  encode(flow: Flow): string {
    return flow.transport === "udp" ? this.encodeUdp(flow.remote) : this.#sign(flow.id);
  }

  /** A token for a UDP peer we have not heard from yet (the callee leg). */
  encodeUdp(remote: Address): string {
    return this.#sign(`udp|${remote.host}|${remote.port}`);
  }

  #sign(desc: string): string {
    let token = this.#signed.get(desc);
    if (token === undefined) {
      const body = Buffer.from(desc, "utf8").toString("base64url");
      token = `${body}.${mac(this.#key, desc)}`;
      remember(this.#signed, desc, token);
    }
    return token;
  }

  /**
   * The flow a token names: a UDP address target, or the id of a stream flow (the caller
   * checks it is still open). Undefined for a forged or garbled token.
   */
  decode(token: string): Decoded | undefined {
    let decoded = this.#read.get(token);
    if (decoded === undefined) {
      decoded = this.#verify(token);
      // Only valid tokens are kept: a flood of forged ones cannot evict the good ones' entries.
      if (decoded !== undefined) remember(this.#read, token, decoded);
    }
    return decoded;
  }

  #verify(token: string): Decoded | undefined {
    const dot = token.lastIndexOf(".");
    if (dot <= 0) return undefined;
    let desc: string;
    try {
      desc = Buffer.from(token.slice(0, dot), "base64url").toString("utf8");
    } catch {
      return undefined;
    }
    const signature = token.slice(dot + 1);
    if (
      mac(this.#key, desc) !== signature &&
      (this.#previous === undefined || mac(this.#previous, desc) !== signature)
    ) return undefined;
    if (desc.startsWith("udp|")) {
      const [, host, port] = desc.split("|");
      const n = Number(port);
      if (!host || !Number.isInteger(n) || n <= 0 || n > 65535) return undefined;
      return Object.freeze({ udp: Object.freeze({ transport: "udp", host, port: n }) });
    }
    return Object.freeze({ flowId: desc });
  }
}

/** What a token names (shared, frozen: the same token read again returns the same object). */
type Decoded = { readonly udp: Target } | { readonly flowId: string };

/** Entries kept per FlowTokens table; tokens name flows, few per worker at a time. */
const MAX_REMEMBERED = 4096;

function remember<V>(table: Map<string, V>, key: string, value: V): void {
  if (table.size >= MAX_REMEMBERED) table.clear();
  table.set(key, value);
}

const encoder = new TextEncoder();
const macOut = new Uint8Array(32);

/** The first 9 bytes of HMAC-SHA256(key, desc), base64url: 12 characters. */
function mac(key: HmacSha256, desc: string): string {
  return Buffer.from(key.macInto(encoder.encode(desc), macOut).subarray(0, 9)).toString(
    "base64url",
  );
}

/** Via transport tokens by transport: no upper-casing (a new string) per forwarded request. */
const VIA_TRANSPORTS: Record<TransportName, string> = {
  udp: "UDP",
  tcp: "TCP",
  tls: "TLS",
  ws: "WS",
  wss: "WSS",
};

/** The Via transport token (§18: UDP, TCP, TLS; RFC 7118: WS, WSS). */
export function viaTransport(transport: TransportName): string {
  return VIA_TRANSPORTS[transport] ?? transport.toUpperCase();
}

/**
 * Our Via for a request we send (§8.1.1.7; §16.6 item 8 for a forwarded one): sent-by is
 * our listening address on `transport`; `rport` asks for RFC 3581 symmetric responses.
 */
export function viaValue(
  transport: TransportName,
  local: Address,
  branch: string,
  rport: boolean,
): string {
  const via = `SIP/2.0/${viaTransport(transport)} ${sentBy(local).text};branch=${branch}`;
  return rport ? `${via};rport` : via;
}

/** One of our listening addresses as written (`host:port`) and as a parse of that reads it. */
interface SentBy {
  readonly host: string;
  readonly port: number;
  readonly text: string;
  readonly parsed: { host: string; port?: number };
}

/** The few addresses we send from (one per listener), found by a scan: no key to build. */
const sentBys: SentBy[] = [];

function sentBy(local: Address): SentBy {
  for (const known of sentBys) {
    if (known.host === local.host && known.port === local.port) return known;
  }
  const text = formatHost(local.host) + ":" + local.port;
  const entry = { host: local.host, port: local.port, text, parsed: parseHostPort(text, "host") };
  if (sentBys.length >= 16) sentBys.length = 0;
  sentBys.push(entry);
  return entry;
}

/**
 * The parse of `viaValue(transport, local, branch, rport)` plus `extra` params, built
 * without parsing it: the transaction layer keys our forwarded request on its top Via.
 */
export function parsedVia(
  transport: TransportName,
  local: Address,
  branch: string,
  rport: boolean,
  extra?: [string, string],
): Via {
  const hostPort = sentBy(local).parsed;
  const params = new Map<string, string | null>([["branch", branch]]);
  if (rport) params.set("rport", null);
  if (extra) params.set(extra[0], extra[1]);
  return { transport: viaTransport(transport), host: hostPort.host, port: hostPort.port, params };
}

export interface RecordRouteParams {
  ftag: string;
  caller?: string;
  callee?: string;
}

/** One Record-Route value for the leg on `transport` at our `host:port`. */
export function recordRouteValue(
  host: string,
  port: number,
  transport: TransportName,
  params: RecordRouteParams,
): string {
  let uri = `sip:${formatHost(host)}:${port};transport=${transport};lr`;
  if (params.ftag) uri += `;${FTAG}=${params.ftag}`;
  if (params.caller) uri += `;${CALLER_TOKEN}=${params.caller}`;
  if (params.callee) uri += `;${CALLEE_TOKEN}=${params.callee}`;
  return `<${uri}>`;
}

/**
 * What routing reads of a Route entry of ours: the host and port it names (the port a
 * parse implies when it has none) and the params of ours. A few strings instead of a URI
 * with a parameter Map: the proxy keeps one per Record-Route it writes, for the dialog's
 * requests that bring it back.
 */
export interface OurRoute {
  readonly host: string;
  readonly port: number;
  /** A peer of the cluster relays to our binding with this id (`RELAY_TOKEN`; "" if bare). */
  readonly relay: string | undefined;
  readonly ftag: string | undefined;
  readonly caller: string | undefined;
  readonly callee: string | undefined;
}

/** `uri` (a sip: or sips: URI) as routing reads it. */
export function ourRoute(uri: SipUri): OurRoute {
  const get = (name: string) => uri.params.get(name) ?? undefined;
  const transport = (uri.params.get("transport") ?? "").toLowerCase();
  return {
    host: uri.host,
    port: uri.port ?? (uri.scheme === "sips" || transport === "tls" ? 5061 : 5060),
    relay: uri.params.has(RELAY_TOKEN) ? get(RELAY_TOKEN) ?? "" : undefined,
    ftag: get(FTAG),
    caller: get(CALLER_TOKEN),
    callee: get(CALLEE_TOKEN),
  };
}

/**
 * `ourRoute` of a parse of `recordRouteValue(...)`, built without parsing; undefined when
 * the From tag is no plain token (then only a parse says what the value means).
 */
export function recordRouteEntry(
  local: Address,
  params: RecordRouteParams,
): OurRoute | undefined {
  if (params.ftag && !isToken(params.ftag)) return undefined;
  return {
    host: sentBy(local).parsed.host,
    port: local.port,
    relay: undefined,
    ftag: params.ftag || undefined,
    caller: params.caller || undefined,
    callee: params.callee || undefined,
  };
}

/**
 * RFC 5393 §4.2 loop hash: stable across a loop, so it leaves out the top Via (which a
 * loop changes) and our own credentials (which we consume). Changes when the request
 * was retargeted, which makes a spiral through us legal.
 */
export function loopHash(request: SipRequest): string {
  // Fed piece by piece: the same hash as of the joined text, without building it.
  hashStart();
  hashAdd(request.uri);
  hashAdd("|");
  hashAdd(request.callId);
  hashAdd("|");
  hashAdd(tagParam(request.get("from") ?? ""));
  hashAdd("|");
  hashAdd(tagParam(request.get("to") ?? ""));
  hashAdd("|");
  hashAdd(String(request.cseq.seq));
  for (const r of request.getAll("route")) {
    hashAdd("|r:");
    hashAdd(r.trim());
  }
  for (const p of request.getAll("proxy-require")) {
    hashAdd("|p:");
    hashAdd(p.trim());
  }
  return hashHex();
}

/**
 * 64 bits of two FNV-1a style lanes over the UTF-16 code units, 16 hex digits. No secret
 * rides on it (RFC 5393 only needs a value stable across a loop and different for a
 * retargeted request), and a hash object per request cost more than the proxy's routing.
 * Streaming: start, add pieces, read.
 */
let laneA = 0;
let laneB = 0;

function hashStart(): void {
  laneA = 0x811c9dc5;
  laneB = 0x9747b28c;
}

function hashAdd(text: string): void {
  let a = laneA;
  let b = laneB;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  laneA = a;
  laneB = b;
}

function hashHex(): string {
  return hex8(laneA) + hex8(laneB);
}

function hex8(n: number): string {
  return HEX[n >>> 24] + HEX[(n >>> 16) & 255] + HEX[(n >>> 8) & 255] + HEX[n & 255];
}

/** A branch for a request we forward statefully: prefix, loop hash, 64 random bits. */
export function newProxyBranch(hash: string): string {
  return `${BRANCH_PREFIX}${hash}-${randomHex(8)}`;
}

/**
 * §16.11: a stateless forward (ACK for 2xx) needs the same branch for a retransmission,
 * so it is derived from the incoming top Via's branch.
 */
export function statelessBranch(request: SipRequest): string {
  const top = request.getAll("via")[0] ?? "";
  hashStart();
  hashAdd(top);
  return BRANCH_PREFIX + "s-" + hashHex();
}

/**
 * §16.3 item 4: one of our Vias carries the hash this very request has: a loop. `hash` may
 * be a function, called only when a Via of ours is there to compare with (most requests
 * carry none, and a challenged one never needs its hash).
 */
export function isLoop(
  request: SipRequest,
  hash: string | (() => string),
  ours: (host: string, port: number | undefined) => boolean = () => true,
): boolean {
  for (const via of request.vias) {
    const branch = via.params.get("branch");
    // Another sipws on the path makes the same branches: only a Via we sent counts.
    if (branch && branch.startsWith(BRANCH_PREFIX) && ours(via.host, via.port)) {
      if (typeof hash !== "string") hash = hash();
      if (branch.slice(BRANCH_PREFIX.length, BRANCH_PREFIX.length + 16) === hash) return true;
    }
  }
  return false;
}
