/**
 * @module The registrations contract of the embedded store: a binding as a plain record
 * (strings, numbers, a flow description) and a store that loads them all at start and
 * applies batches of puts and removals. The location service owns the live table; this
 * only keeps a copy so a restart can restore it. Writes are batched by the caller
 * (write-behind), so an implementation may be as slow as one durable write per batch.
 */

/** A flow as recorded with a binding (the transport layer's `Flow`, as data). */
export interface StoredFlow {
  id: string;
  /** The process that owned it (absent in records written before flows named their owner). */
  owner?: { node: string; worker: number };
  transport: "udp" | "tcp" | "tls" | "ws" | "wss";
  local: { host: string; port: number };
  remote: { host: string; port: number };
  reliable: boolean;
  secure: boolean;
}

/** One binding as stored: everything needed to route to it again after a restart. */
export interface StoredBinding {
  /** "user@domain". */
  aor: string;
  /** Identity within the AOR (RFC 5626 §6): instance and reg-id, else the Contact URI. */
  key: string;
  domain: string;
  user: string;
  /** The Contact URI as registered. */
  contact: string;
  /** Contact header parameters other than expires (e.g. +sip.instance, reg-id, q). */
  contactParams: string;
  flow: StoredFlow;
  callId: string;
  cseq: number;
  expiresAt: number;
  registeredAt: number;
  instance?: string;
  regId?: number;
  /** RFC 3327 Path values, top first. */
  path: string[];
  userAgent?: string;
}

/** One batch: bindings added or refreshed, and bindings gone (by AOR and key). */
export interface BindingChanges {
  put: StoredBinding[];
  remove: { aor: string; key: string }[];
}

export interface BindingStore {
  /** Every stored binding not yet expired at `now`. */
  load(now: number): Promise<StoredBinding[]>;
  /** Applies one batch durably (one transaction or one file replacement). */
  apply(changes: BindingChanges): Promise<void>;
  close(): void;
}

/** The JSON `-b` database's sibling file for registrations: `x.json` → `x.bindings.json`. */
export function bindingsFileFor(dbFile: string): string {
  return `${dbFile.replace(/\.json$/i, "")}.bindings.json`;
}

/** A parsed record, or undefined when it does not have the shape of a stored binding. */
export function checkStoredBinding(value: unknown): StoredBinding | undefined {
  const b = value as StoredBinding;
  if (typeof b !== "object" || b === null) return undefined;
  const strings = [b.aor, b.key, b.domain, b.user, b.contact, b.contactParams, b.callId];
  if (strings.some((s) => typeof s !== "string")) return undefined;
  if (![b.cseq, b.expiresAt, b.registeredAt].every(Number.isFinite)) return undefined;
  if (!Array.isArray(b.path) || typeof b.flow !== "object" || b.flow === null) return undefined;
  if (typeof b.flow.id !== "string" || typeof b.flow.transport !== "string") return undefined;
  return b;
}
