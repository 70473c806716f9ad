/**
 * @module SIP URIs (RFC 3261 §19.1): parses sip/sips URIs (user, password, host, port,
 * params, raw headers) and other schemes as opaque, and formats them back. Char-code
 * scanners, no per-character regex; throws `SipParseError`; never resolves names.
 */
import { SipParseError } from "./errors.ts";
import { alphanumAnd } from "./headers.ts";
import { formatParams, NO_PARAMS, type Params, parseParams, toLower } from "./params.ts";

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

/** Host characters: alphanum, `-._~%!*'()+` (lenient hostname / IPv4), indexed by code. */
const HOST_CHARS: Uint8Array = alphanumAnd("-._~%!*'()+");

export function parseHostPort(
  text: string,
  what: string,
  from = 0,
  to: number = text.length,
): { host: string; port?: number } {
  let host: string;
  let rest: number;
  if (text.charCodeAt(from) === 91) {
    // IPv6reference = "[" IPv6address "]" (§25.1).
    const end = text.indexOf("]", from);
    if (end < 0 || end >= to) throw new SipParseError(`Bad ${what}`, text.slice(from, to));
    host = text.slice(from + 1, end);
    if (!host || !/^[0-9a-fA-F:.]+$/.test(host) || host.indexOf(":") < 0) {
      throw new SipParseError(`Bad ${what}`, text.slice(from, to));
    }
    host = toLower(host);
    rest = end + 1;
  } else {
    let i = from;
    let upper = false;
    for (; i < to; i++) {
      const c = text.charCodeAt(i);
      if (c === 58) break;
      if (c >= 128 || HOST_CHARS[c] === 0) {
        throw new SipParseError(`Bad ${what}`, text.slice(from, to));
      }
      if (c >= 65 && c <= 90) upper = true;
    }
    if (i === from) throw new SipParseError(`Bad ${what}`, text.slice(from, to));
    host = upper ? text.slice(from, i).toLowerCase() : text.slice(from, i);
    rest = i;
  }
  let port: number | undefined;
  if (rest < to) {
    if (text.charCodeAt(rest) !== 58 || rest + 1 === to || to - rest > 6) {
      throw new SipParseError(`Bad ${what} port`, text.slice(from, to));
    }
    port = 0;
    for (let i = rest + 1; i < to; i++) {
      const d = text.charCodeAt(i) - 48;
      if (d < 0 || d > 9) throw new SipParseError(`Bad ${what} port`, text.slice(from, to));
      port = port * 10 + d;
    }
    if (port > 65535) throw new SipParseError(`Bad ${what} port`, text.slice(from, to));
  }
  return { host, port };
}

/**
 * Parses a URI exactly as given (no surrounding LWS allowed: RFC 4475 §3.1.2.14), the whole
 * of `text` or text[from, to). sip/sips get user, password, host, port, params and raw
 * headers; other schemes (tel:, http:, ...) get scheme + opaque `host`.
 */
export function parseUri(text: string, from = 0, to: number = text.length): SipUri {
  const scheme = schemeOf(text, from, to);
  const colon = from + scheme.length;
  // One pass: refuses LWS, controls and `"<>`, and finds the first '@' and, relative to
  // it, the password ':' before it and the first '?' and ';' after it. '@' never appears
  // unescaped outside userinfo, so the first one ends it (§25.1); the user part may itself
  // hold ';', '?', ',' and '/' (RFC 4475 §3.1.1.2, §3.1.1.9).
  let at = -1;
  let pc = -1;
  let q = -1;
  let semi = -1;
  for (let i = colon + 1; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c <= 32 || c === 127 || c === 34 /* " */ || c === 60 || c === 62) {
      throw new SipParseError("Bad URI", text.slice(from, to));
    }
    if (c === 64 /* @ */) {
      if (at < 0) {
        at = i;
        q = semi = -1;
      }
    } else if (c === 58 /* : */) {
      if (pc < 0 && at < 0) pc = i;
    } else if (c === 63 /* ? */) {
      if (q < 0) q = i;
    } else if (c === 59 /* ; */) {
      if (semi < 0) semi = i;
    }
  }
  if (colon + 1 === to) throw new SipParseError("Bad URI", text.slice(from, to));
  if (scheme !== "sip" && scheme !== "sips") {
    return { scheme, host: text.slice(colon + 1, to), params: NO_PARAMS };
  }
  let rest = colon + 1;
  let user: string | undefined;
  let password: string | undefined;
  if (at >= 0) {
    if (pc >= 0) {
      user = text.slice(rest, pc);
      password = text.slice(pc + 1, at);
    } else user = text.slice(rest, at);
    if (!user) throw new SipParseError("Bad URI user", text.slice(from, to));
    user = decodeEscapes(user);
    rest = at + 1;
  }
  let end = to;
  let headers: string | undefined;
  if (q >= 0) {
    headers = text.slice(q + 1, to);
    end = q;
  }
  let params: Params;
  let hostEnd = end;
  if (semi >= 0 && semi < end) {
    hostEnd = semi;
    params = parseParams(text, false, semi + 1, end);
  } else params = NO_PARAMS;
  const { host, port } = parseHostPort(text, "URI host", rest, hostEnd);
  return { scheme, user, password, host, port, params, headers };
}

/** The lower-cased scheme of the URI in text[from, to); throws when there is none. */
function schemeOf(text: string, from: number, to: number): string {
  // The usual spellings without a copy.
  if (text.startsWith("sip:", from) && to > from + 3) return "sip";
  if (text.startsWith("sips:", from) && to > from + 4) return "sips";
  const colon = text.indexOf(":", from);
  if (colon <= from || colon >= to) throw new SipParseError("Bad URI", text.slice(from, to));
  const scheme = toLower(text.slice(from, colon));
  if (scheme !== "sip" && scheme !== "sips" && !/^[a-z][a-z0-9+.-]*$/.test(scheme)) {
    throw new SipParseError("Bad URI scheme", text.slice(from, to));
  }
  return scheme;
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
