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
