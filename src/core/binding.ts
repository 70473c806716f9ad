/**
 * @module A contact binding as plain data (RFC 3261 §10.3, RFC 5626, RFC 3327) and the
 * contract of the store that keeps them. A binding holds strings, numbers and a flow
 * reference only (no parsed URI, no live connection), so it can be serialized and kept
 * in another process; the fields the proxy needs from the Contact URI are computed once,
 * at registration. The in-memory store is location.ts.
 */
import type { SipUri } from "../sip/uri.ts";
import { isInvalidHost } from "../transport/address.ts";
import type { StoredBinding } from "../store/binding_store.ts";
import type { AccountStore } from "../store/account.ts";
import type { Flow, TransportName } from "../transport/types.ts";

/** Where a Contact URI leads by itself (§19.1.1 defaults): UDP, TCP or TLS to an address. */
export interface ContactAddress {
  transport: TransportName;
  host: string;
  port: number;
}

/**
 * A binding: the record the store keeps (`StoredBinding`: AOR, key, contact, flow, Call-ID,
 * CSeq, times, instance, reg-id, Path, User-Agent) plus what routing derives from the Contact
 * once, at registration, and the ping count.
 */
export interface Binding extends StoredBinding {
  /** The flow it registered on: a reference (id, owner, addresses), not the socket. */
  flow: Flow;
  /** Contact URI host, user and port as parsed: a browser's `.invalid` contact is found by them. */
  contactHost: string;
  contactUser?: string;
  contactPort?: number;
  /** The Contact's own address; absent for `.invalid` and WebSocket contacts. */
  contactAddress?: ContactAddress;
  outstandingPings: number;
}

export type RemovalCause = "unregistered" | "expired" | "flow_closed" | "ping_failed" | "admin";

/**
 * Bindings as the operator sees them: the location store, or a cluster-wide view whose
 * `remove` asks the owning node for a binding of another node.
 */
export interface BindingReader {
  lookup(aor: string): Binding[];
  all(): Binding[];
  byId(id: string): Binding | undefined;
  remove(binding: Binding, cause: RemovalCause): boolean;
}

/**
 * Removes the bindings of every AOR of a domain (or of all domains) that has no account
 * (deleted through the API, the CLI or another node).
 */
export function removeOrphanBindings(
  bindings: BindingReader,
  store: AccountStore,
  domain?: string,
): number {
  let removed = 0;
  for (const b of bindings.all()) {
    if (domain !== undefined && b.domain.toLowerCase() !== domain.toLowerCase()) continue;
    if (store.getAccount(b.domain, b.user)) continue;
    if (bindings.remove(b, "admin")) removed++;
  }
  return removed;
}

/**
 * Told of every change to the table after it happened (persistence, replication): the
 * binding saved, or removed. It must not throw and must not block (queue, then write).
 */
export type LocationObserver = (
  binding: Binding,
  change: "saved" | "removed",
  /** True when the change was made by another worker and copied here. */
  replica: boolean,
  /** Why a binding was removed. */
  cause?: RemovalCause,
) => void;

/** A change as it crosses to another worker's copy of the table. */
export type LocationChange =
  | { op: "saved"; binding: Binding }
  | { op: "removed"; aor: string; key: string; cause: RemovalCause };

/** RFC 5626 §6: with instance and reg-id the flow identity is the key, else the URI. */
export function bindingKey(
  b: { instance?: string; regId?: number; contactUri: SipUri },
): string {
  if (b.instance !== undefined && b.regId !== undefined) return `i:${b.instance}|${b.regId}`;
  const u = b.contactUri;
  const transport = (u.params.get("transport") ?? "udp")?.toLowerCase();
  return `u:${u.scheme}:${u.user ?? ""}@${u.host}:${u.port ?? ""};${transport}`;
}

/** The fields a binding derives from its parsed Contact URI. */
export type ContactFields = Pick<
  Binding,
  "contact" | "key" | "contactHost" | "contactUser" | "contactPort" | "contactAddress"
>;

/** Derives the plain contact fields of a binding from its parsed Contact URI. */
export function contactFields(
  contact: string,
  contactUri: SipUri,
  identity: { instance?: string; regId?: number } = {},
  key = bindingKey({ ...identity, contactUri }),
): ContactFields {
  return {
    contact,
    key,
    contactHost: contactUri.host,
    contactUser: contactUri.user,
    contactPort: contactUri.port,
    contactAddress: addressOf(contactUri),
  };
}

/**
 * A URI's transport address (§19.1.1 defaults); never for `.invalid` URIs. WebSocket URIs
 * only as a next hop (`webSocket`: WS client mode, RFC 7118 default ports 80 and 443),
 * never as a binding's contact address: a registered WebSocket is reached by its flow.
 */
export function addressOf(uri: SipUri, webSocket = false): ContactAddress | undefined {
  if (uri.scheme !== "sip" && uri.scheme !== "sips") return undefined;
  if (isInvalidHost(uri.host)) return undefined;
  const param = (uri.params.get("transport") ?? "").toLowerCase();
  const transport = (param || (uri.scheme === "sips" ? "tls" : "udp")) as TransportName;
  const fallback = defaultPort(transport, webSocket);
  if (fallback === undefined) return undefined;
  return { transport, host: uri.host, port: uri.port ?? fallback };
}

function defaultPort(transport: TransportName, webSocket: boolean): number | undefined {
  switch (transport) {
    case "udp":
    case "tcp":
      return 5060;
    case "tls":
      return 5061;
    case "ws":
      return webSocket ? 80 : undefined;
    case "wss":
      return webSocket ? 443 : undefined;
    default:
      return undefined;
  }
}

/** The key of the `.invalid` contact index: what RFC 7118 §5.2 routing compares. */
export function contactIndexKey(c: { user?: string; host: string; port?: number }): string {
  return `${c.user ?? ""}@${c.host}:${c.port ?? ""}`;
}

/**
 * The same registration, as of the same refresh (a ping count may differ): what removal
 * compares, so a caller holding an older copy never removes a binding refreshed since.
 */
export function sameRegistration(a: Binding, b: Binding): boolean {
  return a.expiresAt === b.expiresAt && a.key === b.key && a.aor === b.aor &&
    a.cseq === b.cseq && a.callId === b.callId && a.flow.id === b.flow.id;
}

/**
 * The location store (RFC 3261 §10.3): AOR → bindings, expiry, and the indexes routing
 * needs (by flow, by `.invalid` contact). Bindings are values: a change is a new record
 * saved, never a mutation of one handed out.
 */
export interface LocationStore {
  /** Live bindings of an AOR ("user@domain"), expired ones dropped on the way. */
  lookup(aor: string): Binding[];
  get(aor: string, key: string): Binding | undefined;
  /** The live binding a `bindingId` names (undefined: malformed, unknown or expired). */
  byId(id: string): Binding | undefined;
  /** A live binding of a browser's `.invalid` contact (RFC 7118 §5.2), by user, host and port. */
  byContact(contact: { user?: string; host: string; port?: number }): Binding | undefined;
  /** Adds or refreshes a binding (same key replaces). */
  save(binding: Binding): void;
  /** Puts back a binding kept across a restart, telling no one (nothing changed for the phone). */
  restore(binding: Binding): void;
  /** Adds an observer of every change; returns the function that removes it. */
  observe(observer: LocationObserver): () => void;
  /** Records the ping misses of a binding (no event); the updated record, or undefined if gone. */
  setOutstandingPings(binding: Binding, misses: number): Binding | undefined;
  /** Removes the binding if it is still this registration (a refresh is kept). */
  remove(binding: Binding, cause: RemovalCause): boolean;
  /**
   * A connection closed: its bindings go at once, not at expiry, except those `goes`
   * says outlive it (reached at their Contact from then on).
   */
  removeFlow(flowId: string, goes?: (b: Binding) => boolean): number;
  /** AORs bound on a flow (for the WS connections view). */
  aorsOnFlow(flowId: string): string[];
  /** Removes every expired binding; called by a periodic sweep. */
  sweep(): number;
  all(): Binding[];
  readonly size: number;
}

/**
 * The same contract for a store in another process (a Redis or cluster peer): any answer
 * may come later. The in-memory store answers at once and is also an `AsyncLocationStore`.
 */
export type AsyncLocationStore = {
  [K in keyof LocationStore]: LocationStore[K] extends (...args: infer A) => infer R
    ? (...args: A) => R | Promise<R>
    : LocationStore[K];
};
