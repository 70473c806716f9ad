/**
 * @module The labels of the per-message counters (`sip_messages_in_total`,
 * `sip_messages_out_total`): transport plus method or status. One shared object per
 * combination instead of a new object (and a spread) per message; methods and statuses seen
 * are few, and the table is bounded against floods of odd method names.
 */
import type { SipMessage } from "../sip/message.ts";
import type { TransportName } from "./types.ts";

type Labels = Readonly<Record<string, string>>;

const MAX_ENTRIES = 1024;
const byTransport = new Map<TransportName, Map<string | number, Labels>>();
let entries = 0;

/** `{transport, method}` for a request, `{transport, status}` for a response. Do not mutate. */
export function messageLabels(transport: TransportName, message: SipMessage): Labels {
  let table = byTransport.get(transport);
  if (table === undefined) byTransport.set(transport, table = new Map());
  const what = message.isRequest ? message.method : message.status;
  let labels = table.get(what);
  if (labels === undefined) {
    labels = message.isRequest
      ? { transport, method: message.method }
      : { transport, status: String(message.status) };
    if (entries < MAX_ENTRIES) {
      table.set(what, labels);
      entries++;
    }
  }
  return labels;
}
