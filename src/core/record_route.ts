/**
 * @module The proxy's own marks in a request (RFC 3261 §16.6, RFC 5393, RFC 5626 §5.3):
 * Record-Route entries carrying signed flow tokens for both legs of a dialog, the branch
 * of our Via with its loop-detection hash, and the recognition of our own Route entries.
 * Pure functions over strings plus an HMAC key; it never sends and never looks up
 * bindings (proxy.ts decides what a token means for routing).
 */
import { Buffer } from "node:buffer";
import { createHash, createHmac, randomBytes } from "node:crypto";
import type { SipRequest } from "../sip/message.ts";
import { formatHost, type SipUri } from "../sip/uri.ts";
import { tagParam } from "../sip/tag.ts";
import type { Address, Flow, Target, TransportName } from "../transport/types.ts";

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
  #key: Uint8Array;
  #previous?: Uint8Array;

  constructor(key: Uint8Array = randomBytes(20), previous?: Uint8Array) {
    this.#key = key;
    this.#previous = previous;
  }

  setSecrets(key: Uint8Array, previous?: Uint8Array): void {
    this.#key = key;
    this.#previous = previous;
  }

  encode(flow: Flow): string {
    return flow.transport === "udp" ? this.encodeUdp(flow.remote) : this.#sign(flow.id);
  }

  /** A token for a UDP peer we have not heard from yet (the callee leg). */
  encodeUdp(remote: Address): string {
    return this.#sign(`udp|${remote.host}|${remote.port}`);
  }

  #sign(desc: string): string {
    const body = Buffer.from(desc, "utf8").toString("base64url");
    return `${body}.${mac(this.#key, desc)}`;
  }

  /**
   * The flow a token names: a UDP address target, or the id of a stream flow (the caller
   * checks it is still open). Undefined for a forged or garbled token.
   */
  decode(token: string): { udp: Target } | { flowId: string } | undefined {
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
      return { udp: { transport: "udp", host, port: n } };
    }
    return { flowId: desc };
  }
}

function mac(key: Uint8Array, desc: string): string {
  return createHmac("sha256", key).update(desc).digest("base64url").slice(0, 12);
}

/** The Via transport token (§18: UDP, TCP, TLS; RFC 7118: WS, WSS). */
export function viaTransport(transport: TransportName): string {
  return transport.toUpperCase();
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
  const via = `SIP/2.0/${viaTransport(transport)} ${formatHost(local.host)}:${local.port};` +
    `branch=${branch}`;
  return rport ? `${via};rport` : via;
}

/** One Record-Route value for the leg on `transport` at our `host:port`. */
export function recordRouteValue(
  host: string,
  port: number,
  transport: TransportName,
  params: { ftag: string; caller?: string; callee?: string },
): string {
  let uri = `sip:${formatHost(host)}:${port};transport=${transport};lr`;
  if (params.ftag) uri += `;${FTAG}=${params.ftag}`;
  if (params.caller) uri += `;${CALLER_TOKEN}=${params.caller}`;
  if (params.callee) uri += `;${CALLEE_TOKEN}=${params.callee}`;
  return `<${uri}>`;
}

/**
 * RFC 5393 §4.2 loop hash: stable across a loop, so it leaves out the top Via (which a
 * loop changes) and our own credentials (which we consume). Changes when the request
 * was retargeted, which makes a spiral through us legal.
 */
export function loopHash(request: SipRequest): string {
  const h = createHash("sha1");
  h.update(request.uri);
  h.update("|" + request.callId);
  h.update("|" + tagParam(request.get("from") ?? ""));
  h.update("|" + tagParam(request.get("to") ?? ""));
  h.update("|" + request.cseq.seq);
  for (const r of request.getAll("route")) h.update("|r:" + r.trim());
  for (const p of request.getAll("proxy-require")) h.update("|p:" + p.trim());
  return h.digest("hex").slice(0, 16);
}

/** A branch for a request we forward statefully: prefix, loop hash, randomness. */
export function newProxyBranch(hash: string): string {
  return `${BRANCH_PREFIX}${hash}-${randomBytes(8).toString("hex")}`;
}

/**
 * §16.11: a stateless forward (ACK for 2xx) needs the same branch for a retransmission,
 * so it is derived from the incoming top Via's branch.
 */
export function statelessBranch(request: SipRequest): string {
  const top = request.getAll("via")[0] ?? "";
  return BRANCH_PREFIX + "s-" + createHash("sha1").update(top).digest("hex").slice(0, 24);
}

/** §16.3 item 4: one of our Vias carries the hash this very request has: a loop. */
export function isLoop(
  request: SipRequest,
  hash: string,
  ours: (host: string, port: number | undefined) => boolean = () => true,
): boolean {
  for (const via of request.vias) {
    const branch = via.params.get("branch");
    // Another sipws on the path makes the same branches: only a Via we sent counts.
    if (
      branch && branch.startsWith(BRANCH_PREFIX) && ours(via.host, via.port) &&
      branch.slice(BRANCH_PREFIX.length, BRANCH_PREFIX.length + 16) === hash
    ) {
      return true;
    }
  }
  return false;
}

/** The flow-token params of a Route/Record-Route URI of ours. */
export function routeTokens(uri: SipUri): { ftag?: string; caller?: string; callee?: string } {
  const get = (name: string) => uri.params.get(name) ?? undefined;
  return { ftag: get(FTAG), caller: get(CALLER_TOKEN), callee: get(CALLEE_TOKEN) };
}
