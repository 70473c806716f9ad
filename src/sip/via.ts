/**
 * @module Via header values (RFC 3261 §20.42, §25.1): `SIP / 2.0 / transport sent-by
 * *(;param)` with LWS allowed around the slashes (RFC 4475 §3.1.1.1), and formatting back.
 * Throws `SipParseError` on malformed input.
 */
import { SipParseError } from "./errors.ts";
import { isToken } from "./headers.ts";
import { formatParams, isLws, NO_PARAMS, type Params, parseParams } from "./params.ts";
import { formatHost, parseHostPort } from "./uri.ts";

export interface Via {
  /** "UDP", "TCP", "TLS", "WS", "WSS", ... upper-case. */
  transport: string;
  host: string;
  port?: number;
  params: Params;
}

/**
 * Parses one Via value: `SIP / 2.0 / transport sent-by *(;param)` with LWS allowed around
 * the slashes (§25.1 SLASH, RFC 4475 §3.1.1.1).
 */
export function parseVia(text: string): Via {
  const n = text.length;
  let i = 0;
  let transport: string;
  if (text.startsWith("SIP/2.0/")) {
    // The common, LWS-free spelling.
    i = 8;
    while (i < n && TRANSPORT_END[text.charCodeAt(i)] !== 1) i++;
    transport = text.slice(8, i);
  } else {
    i = skipLws(text, 0);
    let s = i;
    i = wordEnd(text, i);
    if (toUpperAscii(text.slice(s, i)) !== "SIP") throw new SipParseError("Bad Via", text);
    i = slash(text, i);
    s = i;
    i = wordEnd(text, i);
    if (text.slice(s, i) !== "2.0") throw new SipParseError("Bad Via", text);
    i = slash(text, i);
    s = i;
    i = wordEnd(text, i);
    transport = text.slice(s, i);
  }
  if (!isToken(transport)) throw new SipParseError("Bad Via", text);
  const beforeHost = i;
  i = skipLws(text, i);
  if (i === beforeHost || i === n) throw new SipParseError("Bad Via", text);
  const hostStart = i;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 59 || isLws(c)) break;
    i++;
  }
  const { host, port } = parseHostPort(text, "Via host", hostStart, i);
  i = skipLws(text, i);
  let params: Params;
  if (i === n) params = NO_PARAMS;
  else if (text.charCodeAt(i) === 59) params = parseParams(text, true, i + 1);
  else throw new SipParseError("Bad Via", text);
  return { transport: toUpperAscii(transport), host, port, params };
}

/** Characters that end a Via protocol word: '/', ';', LWS (indexed by UTF-16 code unit). */
const TRANSPORT_END: Uint8Array = (() => {
  const t = new Uint8Array(65536);
  for (const c of [47, 59, 32, 9, 13, 10]) t[c] = 1; // / ; SP HT CR LF
  return t;
})();

function skipLws(text: string, i: number): number {
  while (i < text.length && isLws(text.charCodeAt(i))) i++;
  return i;
}

function wordEnd(text: string, i: number): number {
  while (i < text.length && TRANSPORT_END[text.charCodeAt(i)] !== 1) i++;
  return i;
}

/** SLASH = SWS "/" SWS (§25.1); returns the index after it. */
function slash(text: string, i: number): number {
  i = skipLws(text, i);
  if (text.charCodeAt(i) !== 47) throw new SipParseError("Bad Via", text);
  return skipLws(text, i + 1);
}

function toUpperAscii(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 97 && c <= 122) return text.toUpperCase();
  }
  return text;
}

export function formatVia(via: Via): string {
  const port = via.port !== undefined ? `:${via.port}` : "";
  return `SIP/2.0/${via.transport} ${formatHost(via.host)}${port}${formatParams(via.params)}`;
}
