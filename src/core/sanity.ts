/**
 * @module Pre-routing checks (RFC 3261 §8.2, §16.3): every request reaching the core has a
 * parseable top Via, From, To, Call-ID and CSeq whose method matches, a Request-URI of a
 * supported scheme and no unsupported required extension. Failures throw with the
 * specific status and reason; nothing here routes.
 */
import { SipError } from "../sip/errors.ts";
import { validateMessage } from "../sip/parse.ts";
import type { SipRequest } from "../sip/message.ts";
import { parseUri, type SipUri } from "../sip/uri.ts";

/** Option tags sipws implements as a UAS (REGISTER, OPTIONS to itself). */
export const SUPPORTED_OPTIONS = ["path", "outbound", "gruu"];

/** Request-URI text → its parse, cleared when full (see `requestUri`). */
const REQUEST_URIS = new Map<string, SipUri>();
const REQUEST_URIS_MAX = 256;

/**
 * The Request-URI parsed, memoized by its text: a registrar's REGISTERs share one per
 * domain, and an authenticated retry repeats its first attempt's. Shared between requests,
 * so read-only, as the From/To/Contact parses are. A bad one is never kept: it throws each time.
 */
function requestUri(text: string): SipUri {
  let parsed = REQUEST_URIS.get(text);
  if (parsed === undefined) {
    parsed = parseUri(text);
    if (REQUEST_URIS.size >= REQUEST_URIS_MAX) REQUEST_URIS.clear();
    REQUEST_URIS.set(text, parsed);
  }
  return parsed;
}

/** Returns the parsed Request-URI (shared: read-only). Throws SipError/SipParseError. */
export function checkRequest(request: SipRequest, local: boolean): SipUri {
  const uri = request.uri;
  if (!uri.startsWith("sip:") && !uri.startsWith("sips:") && !uri.startsWith("tel:")) {
    const scheme = uri.slice(0, Math.max(0, uri.indexOf(":"))).toLowerCase();
    if (scheme !== "sip" && scheme !== "sips" && scheme !== "tel") {
      throw new SipError(416, "Unsupported URI Scheme");
    }
  }
  const parsed = requestUri(uri);
  validateMessage(request);
  if (
    local && request.method !== "ACK" && request.method !== "CANCEL" && request.has("require")
  ) {
    const unsupported = request.getAll("require").map((t) => t.trim().toLowerCase())
      .filter((t) => t && !SUPPORTED_OPTIONS.includes(t));
    if (unsupported.length > 0) {
      throw new SipError(420, "Bad Extension", [["Unsupported", unsupported.join(", ")]]);
    }
  }
  return parsed;
}
