/**
 * @module Read models shared by the API routes: an account joined with its live bindings,
 * as the SIPWS registry address and as the mediaswitch per-user registration state, plus the
 * admin removal of bindings when accounts go. Pure functions over the store and the
 * location service; no HTTP here.
 */
import type { Binding, BindingReader } from "../core/location.ts";
import { parseUri } from "../sip/uri.ts";
import type { Account } from "../store/account.ts";

/** SIPWS registry address (`list`): empty fields are left out, as SIPWS does. */
export interface RegistryAddress {
  avail: string;
  proto?: string;
  origin: string;
  key: string;
  cn?: string;
  description?: string;
  id: string;
  domain: string;
  host?: string;
  line?: string;
  tag?: string;
  rinstance?: string;
  image?: string;
  port?: number;
  expire?: number;
  registered?: number;
  updated?: number;
}

/** Mediaswitch per-user state in `GET /reg/{domain}`. */
export type UserRegistration =
  | { registered: false }
  | {
    registered: true;
    outstandingping: number;
    remote: { host: string; port: number; agent: string };
    epochs: { registered: number };
    /** In a cluster: the node the binding is registered on. */
    node?: string;
  };

const seconds = (ms: number) => Math.floor(ms / 1000);

/** Live bindings of one account, newest registration first. */
export function bindingsOf(location: BindingReader, domain: string, user: string): Binding[] {
  return location.lookup(`${user}@${domain}`).sort((a, b) => b.registeredAt - a.registeredAt);
}

export function registryAddress(
  account: Account,
  bindings: Binding[],
  now = Date.now(),
): RegistryAddress {
  const b = bindings[0];
  const out: RegistryAddress = {
    avail: b ? "1" : "0",
    origin: account.origin ?? "registry",
    key: `${account.user}@${account.domain}`,
    id: account.id ?? account.user,
    domain: account.domain,
  };
  if (b) out.proto = b.flow.transport;
  if (account.cn) out.cn = account.cn;
  if (account.description) out.description = account.description;
  if (b) {
    out.host = b.flow.remote.host;
    out.port = b.flow.remote.port;
    const params = contactParamsOf(b.contact);
    const line = params.get("line");
    if (line) out.line = line;
    const rinstance = params.get("rinstance");
    if (rinstance) out.rinstance = rinstance;
    out.expire = Math.max(0, Math.round((b.expiresAt - now) / 1000));
    out.registered = seconds(b.registeredAt);
    // The time of the last refresh is not kept apart from the first registration.
    out.updated = seconds(b.registeredAt);
  } else {
    if (account.port) out.port = account.port;
    if (account.expire) out.expire = account.expire;
  }
  if (account.image) out.image = account.image;
  return out;
}

/** `localNode`: this node's id in a cluster (a binding of another node names it in its flow). */
export function userRegistration(bindings: Binding[], localNode?: string): UserRegistration {
  const b = bindings[0];
  if (!b) return { registered: false };
  const state: UserRegistration = {
    registered: true,
    outstandingping: b.outstandingPings,
    remote: { host: b.flow.remote.host, port: b.flow.remote.port, agent: b.userAgent ?? "" },
    epochs: { registered: seconds(b.registeredAt) },
  };
  if (localNode !== undefined) state.node = b.flow.owner?.node ?? localNode;
  return state;
}

/** Removes every binding of an AOR (admin action); returns how many went. */
export function removeBindings(location: BindingReader, domain: string, user: string): number {
  let removed = 0;
  for (const b of location.lookup(`${user}@${domain}`)) {
    if (location.remove(b, "admin")) removed++;
  }
  return removed;
}

/** The URI parameters of a stored Contact (bindings keep the text, not a parsed URI). */
function contactParamsOf(contact: string): Map<string, string | null> {
  try {
    return parseUri(contact).params;
  } catch {
    return new Map();
  }
}
