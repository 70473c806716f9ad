/**
 * @module SIP URIs (RFC 3261 §19.1), name-addr / addr-spec header values (§20.10, §25.1),
 * Via values (§20.42) and the generic `;param` and comma-list grammar they share. Pure
 * string work with char-code scanners (no per-character regex): parses on demand, formats
 * back, throws `SipParseError` on malformed input; never resolves names.
 */
import { SipParseError } from "./errors.ts";
import { alphanumAnd, isToken } from "./headers.ts";

/** Parameters keep their original order; a flag parameter (`;lr`) has value null. */
export type Params = Map<string, string | null>;

export interface SipUri {
  scheme: string;
  user?: string;
  password?: string;
  /** Host without brackets for IPv6 ("::1"); lower-case. */
  host: string;
  port?: number;
  params: Params;
  /** `?name=value&...` part, kept raw. */
  headers?: string;
}

export interface NameAddr {
  displayName?: string;
  uri: SipUri;
  /** Header parameters after the URI (e.g. `tag`, `expires`, `+sip.instance`). */
  params: Params;
  /** True for `*` in Contact. */
  wildcard?: boolean;
}

export interface Via {
  /** "UDP", "TCP", "TLS", "WS", "WSS", ... upper-case. */
  transport: string;
  host: string;
  port?: number;
  params: Params;
}

const SP = 32;
const HT = 9;
const DQUOTE = 34;
const BACKSLASH = 92;

function isLws(c: number): boolean {
  return c === SP || c === HT || c === 13 || c === 10;
}

/** Splits on `sep` outside quoted strings and angle brackets. */
export function splitTopLevel(value: string, sep: string): string[] {
  const sepCode = sep.charCodeAt(0);
  // Fast path: nothing that could hide a separator.
  if (value.indexOf('"') < 0 && value.indexOf("<") < 0) {
    return value.indexOf(sep) < 0 ? [value] : value.split(sep);
  }
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (quoted) {
      if (c === BACKSLASH) i++;
      else if (c === DQUOTE) quoted = false;
    } else if (c === DQUOTE) quoted = true;
    else if (c === 60) depth++;
    else if (c === 62) depth = depth > 0 ? depth - 1 : 0;
    else if (c === sepCode && depth === 0) {
      parts.push(value.slice(start, i));
      start = i + 1;
    }
  }
  if (quoted) throw new SipParseError("Unterminated quoted string", value);
  parts.push(value.slice(start));
  return parts;
}

/**
 * Parses `;a=b;c` (leading `;` optional), honouring quoted values and LWS around `=`
 * (§25.1 EQUAL). An empty parameter (`;;`) is an error (RFC 4475 §3.1.2.1). With
 * `tokenNames` (header parameters) each name must be a token; URI parameters are laxer.
 */
export function parseParams(text: string, tokenNames = false): Params {
  const params: Params = new Map();
  const parts = splitTopLevel(text, ";");
  for (let i = 0; i < parts.length; i++) {
    const raw = parts[i];
    let a = 0;
    let b = raw.length;
    while (a < b && isLws(raw.charCodeAt(a))) a++;
    while (b > a && isLws(raw.charCodeAt(b - 1))) b--;
    if (a === b) {
      // A leading `;` (the usual form) yields one empty first part.
      if (i === 0) continue;
      throw new SipParseError("Bad parameter", text);
    }
    const eq = raw.indexOf("=", a);
    let nameEnd = eq < 0 || eq >= b ? b : eq;
    while (nameEnd > a && isLws(raw.charCodeAt(nameEnd - 1))) nameEnd--;
    const name = toLower(raw.slice(a, nameEnd));
    if (!name || (tokenNames ? !isToken(name) : hasLwsOrQuote(name) || hasAngle(name))) {
      throw new SipParseError("Bad parameter", raw.slice(a, b));
    }
    if (eq < 0 || eq >= b) {
      params.set(name, null);
      continue;
    }
    let v = eq + 1;
    while (v < b && isLws(raw.charCodeAt(v))) v++;
    const value = raw.slice(v, b);
    if (value.charCodeAt(0) === DQUOTE) {
      if (quotedEnd(value, 0) !== value.length) {
        throw new SipParseError("Bad parameter", raw.slice(a, b));
      }
    } else if (!value || hasLwsOrQuote(value)) {
      throw new SipParseError("Bad parameter", raw.slice(a, b));
    }
    params.set(name, value);
  }
  return params;
}

function hasAngle(text: string): boolean {
  return text.indexOf("<") >= 0 || text.indexOf(">") >= 0;
}

function hasLwsOrQuote(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (isLws(c) || c === DQUOTE) return true;
  }
  return false;
}

/** Index just past the closing quote of the quoted-string opening at `from`, or -1. */
function quotedEnd(text: string, from: number): number {
  for (let i = from + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === BACKSLASH) i++;
    else if (c === DQUOTE) return i + 1;
  }
  return -1;
}

export function formatParams(params: Params): string {
  let out = "";
  for (const [k, v] of params) out += v === null ? `;${k}` : `;${k}=${v}`;
  return out;
}

/** Removes surrounding quotes and backslash escapes from a quoted-string. */
export function unquote(value: string): string {
  if (value.length < 2 || value[0] !== '"' || value[value.length - 1] !== '"') return value;
  const inner = value.slice(1, -1);
  if (inner.indexOf("\\") < 0) return inner;
  let out = "";
  for (let i = 0; i < inner.length; i++) {
    if (inner.charCodeAt(i) === BACKSLASH && i + 1 < inner.length) i++;
    out += inner[i];
  }
  return out;
}

export function quote(value: string): string {
  return `"${value.replace(/(["\\])/g, "\\$1")}"`;
}

/** Host characters: alphanum, `-._~%!*'()+` (lenient hostname / IPv4), indexed by code. */
const HOST_CHARS: Uint8Array = alphanumAnd("-._~%!*'()+");

function parseHostPort(text: string, what: string): { host: string; port?: number } {
  let host: string;
  let rest: number;
  if (text.charCodeAt(0) === 91) {
    // IPv6reference = "[" IPv6address "]" (§25.1).
    const end = text.indexOf("]");
    if (end < 0) throw new SipParseError(`Bad ${what}`, text);
    host = text.slice(1, end);
    if (!host || !/^[0-9a-fA-F:.]+$/.test(host) || host.indexOf(":") < 0) {
      throw new SipParseError(`Bad ${what}`, text);
    }
    rest = end + 1;
  } else {
    let i = 0;
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 58) break;
      if (c >= 128 || HOST_CHARS[c] === 0) throw new SipParseError(`Bad ${what}`, text);
    }
    if (i === 0) throw new SipParseError(`Bad ${what}`, text);
    host = text.slice(0, i);
    rest = i;
  }
  let port: number | undefined;
  if (rest < text.length) {
    if (text.charCodeAt(rest) !== 58 || rest + 1 === text.length || text.length - rest > 6) {
      throw new SipParseError(`Bad ${what} port`, text);
    }
    port = 0;
    for (let i = rest + 1; i < text.length; i++) {
      const d = text.charCodeAt(i) - 48;
      if (d < 0 || d > 9) throw new SipParseError(`Bad ${what} port`, text);
      port = port * 10 + d;
    }
    if (port > 65535) throw new SipParseError(`Bad ${what} port`, text);
  }
  return { host: toLower(host), port };
}

function toLower(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 65 && c <= 90) return text.toLowerCase();
  }
  return text;
}

/**
 * Parses a URI exactly as given (no surrounding LWS allowed: RFC 4475 §3.1.2.14). sip/sips
 * get user, password, host, port, params and raw headers; other schemes (tel:, http:, ...)
 * get scheme + opaque `host`.
 */
export function parseUri(text: string): SipUri {
  const colon = text.indexOf(":");
  if (colon <= 0) throw new SipParseError("Bad URI", text);
  const scheme = toLower(text.slice(0, colon));
  if (scheme !== "sip" && scheme !== "sips" && !/^[a-z][a-z0-9+.-]*$/.test(scheme)) {
    throw new SipParseError("Bad URI scheme", text);
  }
  for (let i = colon + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 32 || c === 127 || c === DQUOTE || c === 60 || c === 62) {
      throw new SipParseError("Bad URI", text);
    }
  }
  if (colon + 1 === text.length) throw new SipParseError("Bad URI", text);
  if (scheme !== "sip" && scheme !== "sips") {
    return { scheme, host: text.slice(colon + 1), params: new Map() };
  }
  // '@' never appears unescaped outside userinfo, so the first one ends it (§25.1); the
  // user part may itself hold ';', '?', ',' and '/' (RFC 4475 §3.1.1.2, §3.1.1.9).
  let rest = colon + 1;
  let user: string | undefined;
  let password: string | undefined;
  const at = text.indexOf("@", rest);
  if (at >= 0) {
    const pc = text.indexOf(":", rest);
    if (pc >= 0 && pc < at) {
      user = text.slice(rest, pc);
      password = text.slice(pc + 1, at);
    } else user = text.slice(rest, at);
    if (!user) throw new SipParseError("Bad URI user", text);
    user = decodeEscapes(user);
    rest = at + 1;
  }
  let end = text.length;
  let headers: string | undefined;
  const q = text.indexOf("?", rest);
  if (q >= 0) {
    headers = text.slice(q + 1);
    end = q;
  }
  const semi = text.indexOf(";", rest);
  let params: Params;
  let hostEnd = end;
  if (semi >= 0 && semi < end) {
    hostEnd = semi;
    params = parseParams(text.slice(semi + 1, end));
  } else params = new Map();
  const { host, port } = parseHostPort(text.slice(rest, hostEnd), "URI host");
  return { scheme, user, password, host, port, params, headers };
}

/** Unescapes %HH in the user part so comparisons are by value (§19.1.4). */
function decodeEscapes(text: string): string {
  if (text.indexOf("%") < 0) return text;
  return text.replace(/%([0-9a-fA-F]{2})/g, (_m, hex) => String.fromCharCode(parseInt(hex, 16)));
}

const USER_SAFE = /^[A-Za-z0-9\-_.!~*'()&=+$,;?/]*$/;

export function formatHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

export function formatUri(uri: SipUri): string {
  if (uri.scheme !== "sip" && uri.scheme !== "sips") return `${uri.scheme}:${uri.host}`;
  let out = `${uri.scheme}:`;
  if (uri.user !== undefined) {
    out += USER_SAFE.test(uri.user) ? uri.user : uri.user.replace(
      /[^A-Za-z0-9\-_.!~*'()&=+$,;?/]/g,
      (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0"),
    );
    if (uri.password !== undefined) out += `:${uri.password}`;
    out += "@";
  }
  out += formatHost(uri.host);
  if (uri.port !== undefined) out += `:${uri.port}`;
  out += formatParams(uri.params);
  if (uri.headers !== undefined) out += `?${uri.headers}`;
  return out;
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
  if (text.charCodeAt(i) === DQUOTE) {
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
      const display = text.slice(i, lt).trim();
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
        params: semi < 0 ? new Map() : parseParams(trimmed.slice(semi + 1), true),
      };
    }
  }
  const gt = text.indexOf(">", lt + 1);
  if (gt < 0) throw new SipParseError("Bad name-addr", text);
  const uri = parseUri(text.slice(lt + 1, gt));
  let j = gt + 1;
  while (j < n && isLws(text.charCodeAt(j))) j++;
  if (j === n) return { displayName, uri, params: new Map() };
  if (text.charCodeAt(j) !== 59) throw new SipParseError("Bad name-addr", text);
  return { displayName, uri, params: parseParams(text.slice(j + 1), true) };
}

export function formatNameAddr(na: NameAddr): string {
  if (na.wildcard) return "*";
  const name = na.displayName !== undefined ? `${quote(na.displayName)} ` : "";
  return `${name}<${formatUri(na.uri)}>${formatParams(na.params)}`;
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
  const { host, port } = parseHostPort(text.slice(hostStart, i), "Via host");
  i = skipLws(text, i);
  let params: Params;
  if (i === n) params = new Map();
  else if (text.charCodeAt(i) === 59) params = parseParams(text.slice(i + 1), true);
  else throw new SipParseError("Bad Via", text);
  return { transport: toUpperAscii(transport), host, port, params };
}

/** Characters that end a Via protocol word: '/', ';', LWS (indexed by UTF-16 code unit). */
const TRANSPORT_END: Uint8Array = (() => {
  const t = new Uint8Array(65536);
  for (const c of [47, 59, SP, HT, 13, 10]) t[c] = 1;
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
