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

/** Returns the parsed Request-URI. Throws SipError/SipParseError. */
export function checkRequest(request: SipRequest, local: boolean): SipUri {
  const uri = request.uri;
  if (!uri.startsWith("sip:") && !uri.startsWith("sips:") && !uri.startsWith("tel:")) {
    const scheme = uri.slice(0, Math.max(0, uri.indexOf(":"))).toLowerCase();
    if (scheme !== "sip" && scheme !== "sips" && scheme !== "tel") {
      throw new SipError(416, "Unsupported URI Scheme");
    }
  }
  const parsed = parseUri(uri);
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
