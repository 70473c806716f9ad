/**
 * @module RFC 3261 §18.2.1 and RFC 3581 §4: stamps `received` (and `rport`) on the top Via of
 * a request, telling the sender where it came from.
 */
import type { Header, SipMessage } from "../sip/message.ts";
import { NO_PARAMS, type Params, splitTopLevel } from "../sip/params.ts";
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
  const values = single ? undefined : splitTopLevel(header.value, ",");
  // A one-value line is what `topVia` parses too: read it there, so the parse is shared.
  const parsed = values === undefined ? message.topVia : parseVia(values[0]);
  const rport = parsed.params.has("rport");
  if (!rport && parsed.host === flow.remote.host) return;
  const appended = single && !parsed.params.has("received") &&
    (!rport || (parsed.params.get("rport") === null && header.value.endsWith(";rport")));
  // The parse is this message's own (its parse cache, or fresh): stamped in place, and the
  // cache then holds the stamped line with it. The shared empty NO_PARAMS is never written.
  const params: Params = parsed.params === NO_PARAMS ? new Map() : parsed.params;
  const host = flow.remote.host;
  params.set("received", host);
  const port = rport ? String(flow.remote.port) : "";
  if (rport) params.set("rport", port);
  const via: Via = params === parsed.params ? parsed : { ...parsed, params };
  if (appended) {
    // The stamps only add to the end of the line (no received yet; rport, if asked for,
    // last and empty): the sender's spelling of the rest is kept, not formatted again.
    return message.replaceTopVia(
      header,
      via,
      header.value + stampsOf(rport, port, host, flow.remote.port),
    );
  }
  if (values === undefined) return message.replaceTopVia(header, via);
  values[0] = formatVia(via);
  header.value = values.join(",");
}

/** Stamps built, one per slot picked by the port's low bits: a client sends from one address. */
const STAMPS: ({ rport: boolean; port: string; host: string; text: string } | undefined)[] =
  new Array(64).fill(undefined);

/** `=port;received=host` (rport asked for) or `;received=host`. */
function stampsOf(rport: boolean, port: string, host: string, portNumber: number): string {
  const at = portNumber & 63;
  const last = STAMPS[at];
  if (last !== undefined && last.port === port && last.host === host && last.rport === rport) {
    return last.text;
  }
  const text = rport ? "=" + port + ";received=" + host : ";received=" + host;
  STAMPS[at] = { rport, port, host, text };
  return text;
}
