/**
 * @module name-addr / addr-spec header values (RFC 3261 §20.10, §25.1): From, To, Contact,
 * Route, Record-Route, Path. `[display-name] <URI> *(;param)` or `URI *(;param)`, with
 * the `*` wildcard of Contact. Throws `SipParseError` on malformed input.
 */
import { SipParseError } from "./errors.ts";
import { isToken } from "./headers.ts";
import {
  formatParams,
  isLws,
  NO_PARAMS,
  type Params,
  parseParams,
  quote,
  quotedEnd,
  unquote,
} from "./params.ts";
import { formatUri, parseUri, type SipUri } from "./uri.ts";

export interface NameAddr {
  displayName?: string;
  uri: SipUri;
  /** Header parameters after the URI (e.g. `tag`, `expires`, `+sip.instance`). */
  params: Params;
  /** True for `*` in Contact. */
  wildcard?: boolean;
}

/**
 * Parses one name-addr or addr-spec value (From, To, Contact, Route, ...):
 * `[display-name] <URI> *(;param)` or `URI *(;param)`. The display name is a quoted-string
 * or tokens separated by LWS (§25.1; LWS before `<` optional, RFC 4475 §3.1.1.6).
 */
export function parseNameAddr(text: string): NameAddr {
  let i = 0;
  const n = text.length;
  while (i < n && isLws(text.charCodeAt(i))) i++;
  if (i === n) throw new SipParseError("Bad name-addr", text);
  let displayName: string | undefined;
  let lt = -1;
  if (text.charCodeAt(i) === 34 /* " */) {
    const qe = quotedEnd(text, i);
    if (qe < 0) throw new SipParseError("Bad display name", text);
    displayName = unquote(text.slice(i, qe));
    i = qe;
    while (i < n && isLws(text.charCodeAt(i))) i++;
    if (text.charCodeAt(i) !== 60) throw new SipParseError("Bad name-addr", text);
    lt = i;
  } else {
    lt = text.indexOf("<", i);
    if (lt >= 0) {
      // Usually nothing precedes '<': no display name to cut out.
      const display = lt > i ? text.slice(i, lt).trim() : "";
      if (display) {
        // *(token LWS): tokens and whitespace only.
        for (const word of display.split(/[ \t]+/)) {
          if (!isToken(word)) throw new SipParseError("Bad display name", text);
        }
        displayName = display;
      }
    } else {
      const trimmed = text.slice(i).trimEnd();
      if (trimmed === "*") {
        return {
          uri: { scheme: "", host: "", params: new Map() },
          params: new Map(),
          wildcard: true,
        };
      }
      // addr-spec: parameters after the URI belong to the header, not the URI (§20.10), and
      // the URI may not hold ',', '?' or ';' of its own.
      const semi = trimmed.indexOf(";");
      const uriText = (semi < 0 ? trimmed : trimmed.slice(0, semi)).trimEnd();
      if (/[\s,?]/.test(uriText)) throw new SipParseError("Bad addr-spec", text);
      return {
        uri: parseUri(uriText),
        params: semi < 0 ? NO_PARAMS : parseParams(trimmed, true, semi + 1),
      };
    }
  }
  const gt = text.indexOf(">", lt + 1);
  if (gt < 0) throw new SipParseError("Bad name-addr", text);
  const uri = parseUri(text, lt + 1, gt);
  let j = gt + 1;
  while (j < n && isLws(text.charCodeAt(j))) j++;
  if (j === n) return { displayName, uri, params: NO_PARAMS };
  if (text.charCodeAt(j) !== 59) throw new SipParseError("Bad name-addr", text);
  return { displayName, uri, params: parseParams(text, true, j + 1) };
}

/**
 * Raw value → its parse, for `parseNameAddrShared`; a new Map when full, not `clear()`: a
 * Map in old space allocates its cleared or grown table in old space too, so every parse
 * put in it (a From, its tag new each call) survived scavenges and was promoted. A fresh
 * small Map stays young with its entries, and 128 still holds a digest retry's and the
 * UAs' recurring To and Contact values (docs/performance.md).
 */
let SHARED = new Map<string, NameAddr>();
const SHARED_MAX = 128;

/**
 * `parseNameAddr` memoized by the raw text: a UA's To and Contact come back unchanged in
 * the authenticated retry of a digest exchange and in every refresh (a From is not put here:
 * its tag is new with each call, see `from` in message.ts). The
 * value is shared between messages, so it is read-only (copy `params` to change them, as
 * the registrar does). A malformed value is never remembered: it throws each time.
 */
export function parseNameAddrShared(text: string): NameAddr {
  let parsed = SHARED.get(text);
  if (parsed === undefined) {
    parsed = parseNameAddr(text);
    if (SHARED.size >= SHARED_MAX) SHARED = new Map();
    SHARED.set(text, parsed);
  }
  return parsed;
}

export function formatNameAddr(na: NameAddr): string {
  if (na.wildcard) return "*";
  const name = na.displayName !== undefined ? `${quote(na.displayName)} ` : "";
  return `${name}<${formatUri(na.uri)}>${formatParams(na.params)}`;
}
