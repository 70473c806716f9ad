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
 * the slashes (§25.1 SLASH, RFC 4475 §3.1.1.1); the whole of `text` or the trimmed value
 * text[from, to) (the decoded head a value was cut from: scanning a flat string costs less
 * than scanning the sliced string of the value).
 */
export function parseVia(text: string, from = 0, to: number = text.length): Via {
  const n = to;
  let i = from;
  let transport: string;
  if (text.startsWith("SIP/2.0/", from)) {
    // The common, LWS-free spelling.
    i = from + 8;
    while (i < n && TRANSPORT_END[text.charCodeAt(i)] !== 1) i++;
    transport = text.slice(from + 8, i);
  } else {
    i = skipLws(text, from, n);
    let s = i;
    i = wordEnd(text, i, n);
    if (toUpperAscii(text.slice(s, i)) !== "SIP") throw bad(text, from, to);
    i = slash(text, i, n, from);
    s = i;
    i = wordEnd(text, i, n);
    if (text.slice(s, i) !== "2.0") throw bad(text, from, to);
    i = slash(text, i, n, from);
    s = i;
    i = wordEnd(text, i, n);
    transport = text.slice(s, i);
  }
  if (!isToken(transport)) throw bad(text, from, to);
  const beforeHost = i;
  i = skipLws(text, i, n);
  if (i === beforeHost || i === n) throw bad(text, from, to);
  const hostStart = i;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 59 || isLws(c)) break;
    i++;
  }
  const { host, port } = parseHostPort(text, "Via host", hostStart, i);
  i = skipLws(text, i, n);
  let params: Params;
  if (i === n) params = NO_PARAMS;
  else if (text.charCodeAt(i) === 59) params = parseParams(text, true, i + 1, n);
  else throw bad(text, from, to);
  return { transport: toUpperAscii(transport), host, port, params };
}

function bad(text: string, from: number, to: number): SipParseError {
  return new SipParseError(
    "Bad Via",
    from === 0 && to === text.length ? text : text.slice(from, to),
  );
}

/** Characters that end a Via protocol word: '/', ';', LWS (indexed by UTF-16 code unit). */
const TRANSPORT_END: Uint8Array = (() => {
  const t = new Uint8Array(65536);
  for (const c of [47, 59, 32, 9, 13, 10]) t[c] = 1; // / ; SP HT CR LF
  return t;
})();

function skipLws(text: string, i: number, to: number): number {
  while (i < to && isLws(text.charCodeAt(i))) i++;
  return i;
}

function wordEnd(text: string, i: number, to: number): number {
  while (i < to && TRANSPORT_END[text.charCodeAt(i)] !== 1) i++;
  return i;
}

/** SLASH = SWS "/" SWS (§25.1) in text[i, to); returns the index after it. */
function slash(text: string, i: number, to: number, from: number): number {
  i = skipLws(text, i, to);
  if (i >= to || text.charCodeAt(i) !== 47) throw bad(text, from, to);
  return skipLws(text, i + 1, to);
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
