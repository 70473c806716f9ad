/**
 * @module A location change as it crosses to another worker's copy of the table: a flat
 * array of the binding's fields in a fixed order, not the binding object. The ring codec
 * (ring_codec.ts) writes an array as its values alone, where an object costs a key and a
 * property walk per field; and the copy is rebuilt with every field written out, one object
 * shape for all. Each registration made with several workers crosses once (docs/workers.md).
 */
import type { Binding, LocationChange, RemovalCause } from "../core/location.ts";
import type { Flow, TransportName } from "../transport/types.ts";
import { FLOW_FIELD_COUNT, flowFields, flowFromFields } from "../transport/flow_fields.ts";

/** A location change in its crossing form (see `packChange`). */
export type LocationRecord = unknown[];

const SAVED = 1;
const REMOVED = 2;
/** A saved binding as the fields that differ from the last record of its key (`RecordMemory`). */
const CHANGED = 3;

/** After the flow's fields (flow_fields.ts), which start at `BINDING_FIELDS.flow`. */
const AFTER_FLOW = 13 + FLOW_FIELD_COUNT;

/**
 * Where each field of a binding goes in a record (0 is the op): every key of `Binding`
 * listed, so a field added to it without a place here fails to type-check.
 */
export const BINDING_FIELDS = {
  aor: 1,
  key: 2,
  domain: 3,
  user: 4,
  contact: 5,
  contactParams: 6,
  contactHost: 7,
  contactUser: 8,
  contactPort: 9,
  contactAddress: 10, // transport, host, port: 10, 11, 12
  flow: 13,
  callId: AFTER_FLOW,
  cseq: AFTER_FLOW + 1,
  expiresAt: AFTER_FLOW + 2,
  registeredAt: AFTER_FLOW + 3,
  instance: AFTER_FLOW + 4,
  regId: AFTER_FLOW + 5,
  path: AFTER_FLOW + 6,
  userAgent: AFTER_FLOW + 7,
  outstandingPings: AFTER_FLOW + 8,
} as const satisfies Record<keyof Binding, number>;

/** A location observer's report in the form other copies apply (`unpackChange`). */
export function packChange(
  binding: Binding,
  change: "saved" | "removed",
  cause: RemovalCause | undefined,
): LocationRecord {
  if (change === "removed") return [REMOVED, binding.aor, binding.key, cause ?? "admin"];
  const b = binding;
  const a = b.contactAddress;
  return [
    SAVED,
    b.aor,
    b.key,
    b.domain,
    b.user,
    b.contact,
    b.contactParams,
    b.contactHost,
    b.contactUser,
    b.contactPort,
    a?.transport,
    a?.host,
    a?.port,
    ...flowFields(b.flow),
    b.callId,
    b.cseq,
    b.expiresAt,
    b.registeredAt,
    b.instance,
    b.regId,
    b.path,
    b.userAgent,
    b.outstandingPings,
  ];
}

/**
 * Flows by id, as last rebuilt here: a phone re-registering on one flow shares one record.
 * A flow id names one flow for good (flow_id.ts), so the copy kept is the flow.
 */
const flows = new Map<string, Flow>();
const FLOWS_KEPT = 10_000;

/** The change a record carries (a record crossed the codec: absent fields come as null). */
export function unpackChange(r: LocationRecord): LocationChange {
  if (r[0] === REMOVED) {
    return { op: "removed", aor: r[1] as string, key: r[2] as string, cause: r[3] as RemovalCause };
  }
  const binding: Binding = {
    aor: r[1] as string,
    key: r[2] as string,
    domain: r[3] as string,
    user: r[4] as string,
    contact: r[5] as string,
    contactParams: r[6] as string,
    contactHost: r[7] as string,
    contactUser: optional(r[8]),
    contactPort: optional(r[9]),
    contactAddress: r[10] == null ? undefined : {
      transport: r[10] as TransportName,
      host: r[11] as string,
      port: r[12] as number,
    },
    flow: flowOf(r),
    callId: r[BINDING_FIELDS.callId] as string,
    cseq: r[BINDING_FIELDS.cseq] as number,
    expiresAt: r[BINDING_FIELDS.expiresAt] as number,
    registeredAt: r[BINDING_FIELDS.registeredAt] as number,
    instance: optional(r[BINDING_FIELDS.instance]),
    regId: optional(r[BINDING_FIELDS.regId]),
    path: r[BINDING_FIELDS.path] as string[],
    userAgent: optional(r[BINDING_FIELDS.userAgent]),
    outstandingPings: r[BINDING_FIELDS.outstandingPings] as number,
  };
  return { op: "saved", binding };
}

function flowOf(r: LocationRecord): Flow {
  const id = r[BINDING_FIELDS.flow] as string;
  let flow = flows.get(id);
  if (flow) return flow;
  flow = flowFromFields(r, BINDING_FIELDS.flow);
  if (flows.size >= FLOWS_KEPT) flows.clear();
  flows.set(id, flow);
  return flow;
}

function optional<T>(v: unknown): T | undefined {
  return v == null ? undefined : v as T;
}

/** Records remembered per side before both forget them all (the same bound on both). */
const RECORDS_KEPT = 10_000;

/**
 * The last record of each binding one side of a ring wrote, or the other read: a refresh then
 * crosses as the fields that changed (its Call-ID, CSeq and times, mostly) instead of all
 * thirty-one, and is rebuilt from the record before it where it is read. The writer's memory and
 * the reader's see the same records in the same order (each ring has one writer of location
 * records: a worker on its ring back to the main thread, the main thread on a worker's ring), so
 * they hold the same records; both forget everything at the same record once `RECORDS_KEPT` are
 * held.
 */
export class RecordMemory {
  #byAor = new Map<string, Map<string, LocationRecord>>();
  #count = 0;

  /** What to write for the full record `r` (from `packChange`): it, or its changed fields. */
  pack(r: LocationRecord): LocationRecord {
    if (r[0] !== SAVED) {
      this.#forget(r[1] as string, r[2] as string);
      return r;
    }
    const before = this.#remember(r);
    if (!before) return r;
    const changed: unknown[] = [CHANGED, r[1], r[2], 0];
    let mask = 0;
    for (let i = 3; i < r.length; i++) {
      if (!same(r[i], before[i])) {
        mask |= 1 << (i - 3);
        changed.push(r[i]);
      }
    }
    changed[3] = mask;
    return changed;
  }

  /**
   * The full record a written one (`pack`) stands for; undefined for a refresh of a binding
   * not remembered here, which the two memories kept in step never write (the caller logs it
   * and goes on: throwing would leave the record in the ring, read again at every drain).
   */
  unpack(r: LocationRecord): LocationRecord | undefined {
    if (r[0] === REMOVED) {
      this.#forget(r[1] as string, r[2] as string);
      return r;
    }
    if (r[0] !== CHANGED) {
      this.#remember(r);
      return r;
    }
    const before = this.#byAor.get(r[1] as string)?.get(r[2] as string);
    if (!before) return undefined;
    const full = before.slice();
    const mask = r[3] as number;
    for (let i = 3, at = 4; i < full.length; i++) {
      if (mask & (1 << (i - 3))) full[i] = r[at++];
    }
    this.#remember(full);
    return full;
  }

  /** Keeps `r` as its key's last record; returns the one it replaces. */
  #remember(r: LocationRecord): LocationRecord | undefined {
    const aor = r[1] as string;
    let keys = this.#byAor.get(aor);
    const before = keys?.get(r[2] as string);
    if (!before && this.#count >= RECORDS_KEPT) {
      this.#byAor.clear();
      this.#count = 0;
      keys = undefined;
    }
    if (!keys) this.#byAor.set(aor, keys = new Map());
    keys.set(r[2] as string, r);
    if (!before) this.#count++;
    return before;
  }

  #forget(aor: string, key: string): void {
    const keys = this.#byAor.get(aor);
    if (!keys?.delete(key)) return;
    this.#count--;
    if (keys.size === 0) this.#byAor.delete(aor);
  }
}

/** Equal as the codec carries them (undefined as null; arrays, a binding's path, by value). */
function same(a: unknown, b: unknown): boolean {
  if (a === b || (a == null && b == null)) return true;
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
