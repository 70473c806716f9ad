/**
 * @module RFC 3261 §18.2.1 and RFC 3581 §4: stamps `received` (and `rport`) on the top Via of
 * a request, telling the sender where it came from.
 */
import type { Header, SipMessage } from "../sip/message.ts";
import { type Params, splitTopLevel } from "../sip/params.ts";
import { formatVia, parseVia, type Via } from "../sip/via.ts";
import type { Flow } from "./types.ts";

export function stampReceived(message: SipMessage, flow: Flow): void {
  let header: Header | undefined;
  for (const h of message.headers) {
    if (h.key === "via") {
      header = h;
      break;
    }
  }
  if (!header) return;
  const single = header.value !== "" && !header.value.includes(",");
  const values = single ? [header.value] : splitTopLevel(header.value, ",");
  // A one-value line is what `topVia` parses too: read it there, so the parse is shared.
  const parsed = single ? message.topVia : parseVia(values[0]);
  const rport = parsed.params.has("rport");
  if (!rport && parsed.host === flow.remote.host) return;
  // Copied by forEach and built field by field: `new Map(map)` and a spread go through
  // iterators and entry arrays, several times the garbage of the Via itself.
  const params: Params = new Map();
  parsed.params.forEach((value, name) => params.set(name, value));
  params.set("received", flow.remote.host);
  if (rport) params.set("rport", String(flow.remote.port));
  const via: Via = { transport: parsed.transport, host: parsed.host, port: parsed.port, params };
  if (single) return message.replaceTopVia(header, via);
  values[0] = formatVia(via);
  header.value = values.join(",");
}
