/**
 * @module RFC 3261 §18.2.1 and RFC 3581 §4: stamps `received` (and `rport`) on the top Via of
 * a request, telling the sender where it came from.
 */
import type { SipMessage } from "../sip/message.ts";
import { splitTopLevel } from "../sip/params.ts";
import { formatVia, parseVia } from "../sip/via.ts";
import type { Flow } from "./types.ts";

export function stampReceived(message: SipMessage, flow: Flow): void {
  const header = message.headers.find((h) => h.key === "via");
  if (!header) return;
  const single = header.value !== "" && !header.value.includes(",");
  const values = single ? [header.value] : splitTopLevel(header.value, ",");
  // A one-value line is what `topVia` parses too: read it there, so the parse is shared.
  const parsed = single ? message.topVia : parseVia(values[0]);
  const rport = parsed.params.has("rport");
  if (!rport && parsed.host === flow.remote.host) return;
  const via = { ...parsed, params: new Map(parsed.params) };
  via.params.set("received", flow.remote.host);
  if (rport) via.params.set("rport", String(flow.remote.port));
  if (single) return message.replaceTopVia(header, via);
  values[0] = formatVia(via);
  header.value = values.join(",");
}
