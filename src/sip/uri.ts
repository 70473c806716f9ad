/**
 * @module SIP URIs (RFC 3261 §19.1), name-addr / addr-spec header values (§20.10, §25.1),
 * Via values (§20.42) and the generic `;param` and comma-list grammar they share. Pure
 * string work: parses on demand and formats back; never resolves names.
 */
import { SipParseError } from "./errors.ts";

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

/** Splits on `sep` outside quoted strings and angle brackets. */
export function splitTopLevel(value: string, sep: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quoted) {
      if (c === "\\") i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === "<") depth++;
    else if (c === ">") depth = Math.max(0, depth - 1);
    else if (c === sep && depth === 0) {
      parts.push(value.slice(start, i));
      start = i + 1;
    }
  }
  if (quoted) throw new SipParseError("Unterminated quoted string", value);
  parts.push(value.slice(start));
  return parts;
}

/** Parses `;a=b;c` (leading `;` optional), honouring quoted values. */
export function parseParams(text: string): Params {
  const params: Params = new Map();
  for (const raw of splitTopLevel(text, ";")) {
    const part = raw.trim();
    if (!part) continue;
    const eq = part.indexOf("=");
    if (eq < 0) params.set(part.toLowerCase(), null);
    else {
      const name = part.slice(0, eq).trim().toLowerCase();
      if (!name) throw new SipParseError("Bad parameter", part);
      params.set(name, part.slice(eq + 1).trim());
    }
  }
  return params;
}

export function formatParams(params: Params): string {
  let out = "";
  for (const [k, v] of params) out += v === null ? `;${k}` : `;${k}=${v}`;
  return out;
}

/** Removes surrounding quotes and backslash escapes from a quoted-string. */
export function unquote(value: string): string {
  if (value.length >= 2 && value[0] === '"' && value[value.length - 1] === '"') {
    return value.slice(1, -1).replace(/\\(.)/g, "$1");
  }
  return value;
}

export function quote(value: string): string {
  return `"${value.replace(/(["\\])/g, "\\$1")}"`;
}

function parseHostPort(text: string, what: string): { host: string; port?: number } {
  let host: string;
  let rest: string;
  if (text.startsWith("[")) {
    const end = text.indexOf("]");
    if (end < 0) throw new SipParseError(`Bad ${what}`, text);
    host = text.slice(1, end);
    if (!/^[0-9a-fA-F:.]+$/.test(host)) throw new SipParseError(`Bad ${what}`, text);
    rest = text.slice(end + 1);
  } else {
    const colon = text.indexOf(":");
    host = colon < 0 ? text : text.slice(0, colon);
    rest = colon < 0 ? "" : text.slice(colon);
    if (!/^[A-Za-z0-9._\-~%!*'()+]+$/.test(host)) throw new SipParseError(`Bad ${what}`, text);
  }
  let port: number | undefined;
  if (rest) {
    if (!/^:\d{1,5}$/.test(rest)) throw new SipParseError(`Bad ${what} port`, text);
    port = Number(rest.slice(1));
    if (port > 65535) throw new SipParseError(`Bad ${what} port`, text);
  }
  return { host: host.toLowerCase(), port };
}

/** Parses a sip:/sips: URI. Other schemes (tel:, http:) get scheme + opaque host. */
export function parseUri(text: string): SipUri {
  const s = text.trim();
  const colon = s.indexOf(":");
  if (colon <= 0) throw new SipParseError("Bad Request-URI", s);
  const scheme = s.slice(0, colon).toLowerCase();
  if (!/^[a-z][a-z0-9+.-]*$/.test(scheme)) throw new SipParseError("Bad URI scheme", s);
  let rest = s.slice(colon + 1);
  if (scheme !== "sip" && scheme !== "sips") {
    if (!rest || /\s/.test(rest)) throw new SipParseError("Bad URI", s);
    return { scheme, host: rest, params: new Map() };
  }
  let headers: string | undefined;
  const q = rest.indexOf("?");
  if (q >= 0) {
    headers = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }
  let user: string | undefined;
  let password: string | undefined;
  const at = rest.lastIndexOf("@");
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const pc = userinfo.indexOf(":");
    user = pc < 0 ? userinfo : userinfo.slice(0, pc);
    if (pc >= 0) password = userinfo.slice(pc + 1);
    if (!user || /[\s<>"]/.test(userinfo)) throw new SipParseError("Bad URI user", s);
    user = decodeEscapes(user);
  }
  const semi = rest.indexOf(";");
  const hostport = semi < 0 ? rest : rest.slice(0, semi);
  const params = semi < 0 ? new Map() : parseParams(rest.slice(semi + 1));
  const { host, port } = parseHostPort(hostport, "URI host");
  return { scheme, user, password, host, port, params, headers };
}

/** Unescapes %HH in the user part so comparisons are by value (§19.1.4). */
function decodeEscapes(text: string): string {
  if (!text.includes("%")) return text;
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
    out += USER_SAFE.test(uri.user)
      ? uri.user
      : uri.user.replace(/[^A-Za-z0-9\-_.!~*'()&=+$,;?/]/g, (c) =>
        "%" + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0"));
    if (uri.password !== undefined) out += `:${uri.password}`;
    out += "@";
  }
  out += formatHost(uri.host);
  if (uri.port !== undefined) out += `:${uri.port}`;
  out += formatParams(uri.params);
  if (uri.headers !== undefined) out += `?${uri.headers}`;
  return out;
}

/** Parses one name-addr or addr-spec value (From, To, Contact, Route, ...). */
export function parseNameAddr(text: string): NameAddr {
  const s = text.trim();
  if (s === "*") return { uri: { scheme: "", host: "", params: new Map() }, params: new Map(), wildcard: true };
  const lt = s.indexOf("<");
  if (lt >= 0) {
    const gt = s.indexOf(">", lt);
    if (gt < 0) throw new SipParseError("Bad name-addr", s);
    const display = s.slice(0, lt).trim();
    let displayName: string | undefined;
    if (display) {
      if (display.startsWith('"')) {
        if (!display.endsWith('"') || display.length < 2) throw new SipParseError("Bad display name", s);
        displayName = unquote(display);
      } else {
        if (/["<>]/.test(display)) throw new SipParseError("Bad display name", s);
        displayName = display;
      }
    }
    const uri = parseUri(s.slice(lt + 1, gt));
    const after = s.slice(gt + 1).trim();
    if (after && !after.startsWith(";")) throw new SipParseError("Bad name-addr", s);
    return { displayName, uri, params: parseParams(after) };
  }
  // addr-spec: parameters after the URI belong to the header, not the URI (§20.10).
  const semi = s.indexOf(";");
  const uriText = semi < 0 ? s : s.slice(0, semi);
  if (/[\s,?]/.test(uriText)) throw new SipParseError("Bad addr-spec", s);
  return { uri: parseUri(uriText), params: semi < 0 ? new Map() : parseParams(s.slice(semi + 1)) };
}

export function formatNameAddr(na: NameAddr): string {
  if (na.wildcard) return "*";
  const name = na.displayName !== undefined ? `${quote(na.displayName)} ` : "";
  return `${name}<${formatUri(na.uri)}>${formatParams(na.params)}`;
}

/** Parses one Via value: `SIP/2.0/UDP host:port;branch=...`. */
export function parseVia(text: string): Via {
  const m = /^\s*SIP\s*\/\s*2\.0\s*\/\s*([A-Za-z0-9\-.!%*_+`'~]+)\s+([^;\s]+)\s*(;.*)?$/is.exec(text);
  if (!m) throw new SipParseError("Bad Via", text);
  const { host, port } = parseHostPort(m[2].trim(), "Via host");
  return { transport: m[1].toUpperCase(), host, port, params: parseParams(m[3] ?? "") };
}

export function formatVia(via: Via): string {
  const port = via.port !== undefined ? `:${via.port}` : "";
  return `SIP/2.0/${via.transport} ${formatHost(via.host)}${port}${formatParams(via.params)}`;
}
