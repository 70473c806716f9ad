/**
 * @module A flow as a run of plain fields in a fixed order, and back: how a flow crosses to
 * another worker inside a flat record (src/workers/location_record.ts). Rebuilding one here
 * makes no new flow: its id was made by the transport that opened it (flow_id.ts).
 */
import type { Flow, TransportName } from "./types.ts";

/** How many values `flowFields` writes. */
export const FLOW_FIELD_COUNT = 10;

/** The flow's fields, in the order `flowFromFields` reads them. */
export function flowFields(f: Flow): unknown[] {
  return [
    f.id,
    f.owner?.node,
    f.owner?.worker,
    f.transport,
    f.local.host,
    f.local.port,
    f.remote.host,
    f.remote.port,
    f.reliable,
    f.secure,
  ];
}

/** The flow whose fields start at `at` (absent values crossed as null or undefined). */
export function flowFromFields(r: readonly unknown[], at: number): Flow {
  return {
    id: r[at] as string,
    owner: r[at + 1] == null
      ? undefined
      : { node: r[at + 1] as string, worker: r[at + 2] as number },
    transport: r[at + 3] as TransportName,
    local: { host: r[at + 4] as string, port: r[at + 5] as number },
    remote: { host: r[at + 6] as string, port: r[at + 7] as number },
    reliable: r[at + 8] as boolean,
    secure: r[at + 9] as boolean,
  };
}
