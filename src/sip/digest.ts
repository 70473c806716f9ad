/**
 * @module The wire format and arithmetic of Digest authentication (RFC 2617, RFC 7616, RFC 8760
 * for SIP): parsing a `Digest ...` credentials or challenge value into its auth-params,
 * formatting challenge and credentials values, and computing the request-digest for MD5 and
 * SHA-256 with qop=auth or without qop (RFC 2069 compatibility). Pure: no I/O, no clock, no
 * nonce policy and no account lookup — those belong to src/core/auth.ts.
 */
import { type DigestAlgorithm, digestHashJoined, digestHashJoinedEquals } from "./digest_hash.ts";

/**
 * Auth-params of one Digest value, names lowercased, values unquoted and unescaped. Its
 * prototype chain holds no properties, so a parameter named `constructor` or `__proto__`
 * is just data.
 */
export type DigestParams = Record<string, string>;

/**
 * Makes the params objects: an empty prototype without a prototype of its own gives the
 * safety of `Object.create(null)` while the objects stay in V8's fast (shape-based) mode.
 */
const ParamsObject = function () {} as unknown as new () => DigestParams;
ParamsObject.prototype = Object.create(null);

/** The auth-param names clients send, numbered; matched in place so they are not copied. */
const USERNAME = 0, REALM = 1, NONCE = 2, URI = 3, RESPONSE = 4, ALGORITHM = 5;
const CNONCE = 6, QOP = 7, NC = 8, OPAQUE = 9, OTHER = -1;
const COMMON_NAMES = [
  "username",
  "realm",
  "nonce",
  "uri",
  "response",
  "algorithm",
  "cnonce",
  "qop",
  "nc",
  "opaque",
];

/** The number of the common name text[from, to) spells (lower case), or OTHER. */
function commonName(text: string, from: number, to: number): number {
  // By length first: one or two comparisons instead of a scan of the list.
  let name: number;
  switch (to - from) {
    case 2:
      name = NC;
      break;
    case 3:
      name = text.charCodeAt(from) === 117 ? URI : QOP;
      break;
    case 5:
      name = text.charCodeAt(from) === 114 ? REALM : NONCE;
      break;
    case 6:
      name = text.charCodeAt(from) === 99 ? CNONCE : OPAQUE;
      break;
    case 8:
      name = text.charCodeAt(from) === 117 ? USERNAME : RESPONSE;
      break;
    case 9:
      name = ALGORITHM;
      break;
    default:
      return OTHER;
  }
  return text.startsWith(COMMON_NAMES[name], from) ? name : OTHER;
}

const DQUOTE = 34, COMMA = 44, EQUALS = 61;
const BACKSLASH = 92;

/** Character classes by code: 1 whitespace (SP, HT, CR, LF), 2 RFC 7230 tchar. */
const CLASS: Uint8Array = (() => {
  const t = new Uint8Array(128);
  for (const c of [9, 10, 13, 32]) t[c] = 1;
  for (let c = 48; c <= 57; c++) t[c] = 2;
  for (let c = 65; c <= 90; c++) t[c] = 2;
  for (let c = 97; c <= 122; c++) t[c] = 2;
  for (const ch of "!#$%&'*+-.^_`|~") t[ch.charCodeAt(0)] = 2;
  return t;
})();

function isWhitespace(c: number): boolean {
  return c < 128 && CLASS[c] === 1;
}

/** RFC 7230 tchar: the characters of a token (scheme and parameter names). */
function isTchar(c: number): boolean {
  return c < 128 && CLASS[c] === 2;
}

/**
 * Parses `Digest name=value, name="quoted \"value\", with commas", ...`. The scheme is
 * matched case-insensitively. Returns undefined when the scheme is not Digest or the value
 * breaks the auth-param grammar: missing `=`, unterminated quoted-string, a parameter given
 * twice (RFC 7616 §3.4: each at most once), or junk between parameters. Unquoted values are
 * read up to the next comma or whitespace, which tolerates clients that leave `/` or `@`
 * unquoted. Empty list elements (`,,`) are skipped as RFC 7230 §7 allows. With `from` and
 * `to`, parses value[from, to) (a header value where the message's decoded head holds it:
 * scanning that flat string costs less than scanning the value's slice of it).
 */
export function parseDigest(
  value: string,
  from = 0,
  to: number = value.length,
): DigestParams | undefined {
  const n = to;
  let i = from;
  while (i < n && isWhitespace(value.charCodeAt(i))) i++;
  const schemeStart = i;
  while (i < n && isTchar(value.charCodeAt(i))) i++;
  if (i - schemeStart !== 6) return undefined;
  if (
    !value.startsWith("Digest", schemeStart) &&
    value.slice(schemeStart, i).toLowerCase() !== "digest"
  ) return undefined;
  if (i < n && !isWhitespace(value.charCodeAt(i))) return undefined;

  const params = new ParamsObject();
  const backslash = value.indexOf("\\", i);
  const hasEscapes = backslash >= 0 && backslash < n;
  for (;;) {
    // Separators: whitespace and (possibly empty) commas.
    while (i < n) {
      const c = value.charCodeAt(i);
      if (c !== COMMA && !isWhitespace(c)) break;
      i++;
    }
    if (i >= n) return params;

    const nameStart = i;
    let upper = false;
    for (; i < n; i++) {
      const c = value.charCodeAt(i);
      if (!isTchar(c)) break;
      if (c <= 90 && c >= 65) upper = true;
    }
    if (i === nameStart) return undefined;
    const common = upper ? OTHER : commonName(value, nameStart, i);
    const name = common !== OTHER
      ? ""
      : upper
      ? value.slice(nameStart, i).toLowerCase()
      : value.slice(nameStart, i);
    while (i < n && isWhitespace(value.charCodeAt(i))) i++;
    if (i >= n || value.charCodeAt(i) !== EQUALS) return undefined;
    i++;
    while (i < n && isWhitespace(value.charCodeAt(i))) i++;

    let paramValue: string;
    const quoted = i < n && value.charCodeAt(i) === DQUOTE;
    if (quoted && !hasEscapes) {
      // No backslash anywhere: the closing quote is the next one, found natively.
      const close = value.indexOf('"', i + 1);
      if (close < 0 || close >= n) return undefined; // unterminated quoted-string
      paramValue = value.slice(i + 1, close);
      i = close + 1;
    } else if (quoted) {
      i++;
      const start = i;
      let escaped = false;
      for (;;) {
        if (i >= n) return undefined; // unterminated quoted-string
        const c = value.charCodeAt(i);
        if (c === DQUOTE) break;
        if (c === BACKSLASH) {
          escaped = true;
          i += 2; // quoted-pair: the next character is literal
        } else {
          i++;
        }
      }
      paramValue = escaped ? unescapeQuoted(value.slice(start, i)) : value.slice(start, i);
      i++; // closing quote
    } else {
      const start = i;
      while (i < n) {
        const c = value.charCodeAt(i);
        if (c === COMMA || c === DQUOTE || isWhitespace(c)) break;
        i++;
      }
      if (i === start) return undefined;
      paramValue = value.slice(start, i);
    }

    if (!addParam(params, common, name, paramValue)) return undefined;

    while (i < n && isWhitespace(value.charCodeAt(i))) i++;
    if (i < n && value.charCodeAt(i) !== COMMA) return undefined;
  }
}

/**
 * Adds one auth-param; false when it is already there. The common names are stored by
 * name, so each store site sees one name (a keyed store by a varying name goes
 * megamorphic); `name` is read only for OTHER. Values are strings, so undefined means
 * absent (cheaper than `in` on this object).
 */
function addParam(p: DigestParams, common: number, name: string, value: string): boolean {
  switch (common) {
    case USERNAME:
      if (p.username !== undefined) return false;
      p.username = value;
      return true;
    case REALM:
      if (p.realm !== undefined) return false;
      p.realm = value;
      return true;
    case NONCE:
      if (p.nonce !== undefined) return false;
      p.nonce = value;
      return true;
    case URI:
      if (p.uri !== undefined) return false;
      p.uri = value;
      return true;
    case RESPONSE:
      if (p.response !== undefined) return false;
      p.response = value;
      return true;
    case ALGORITHM:
      if (p.algorithm !== undefined) return false;
      p.algorithm = value;
      return true;
    case CNONCE:
      if (p.cnonce !== undefined) return false;
      p.cnonce = value;
      return true;
    case QOP:
      if (p.qop !== undefined) return false;
      p.qop = value;
      return true;
    case NC:
      if (p.nc !== undefined) return false;
      p.nc = value;
      return true;
    case OPAQUE:
      if (p.opaque !== undefined) return false;
      p.opaque = value;
      return true;
    default:
      if (p[name] !== undefined) return false;
      p[name] = value;
      return true;
  }
}

function unescapeQuoted(raw: string): string {
  let out = "";
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === BACKSLASH && i + 1 < raw.length) {
      i++;
      out += raw[i];
    } else {
      out += raw[i];
    }
  }
  return out;
}

/** Wraps a value in a quoted-string, escaping `"` and `\` (RFC 3261 §25.1 quoted-pair). */
export function quoteDigestValue(value: string): string {
  if (value.indexOf('"') < 0 && value.indexOf("\\") < 0) return `"${value}"`;
  return `"${value.replace(/["\\]/g, "\\$&")}"`;
}

/** What a server puts in one WWW-Authenticate / Proxy-Authenticate value. */
export interface DigestChallenge {
  realm: string;
  nonce: string;
  algorithm: DigestAlgorithm;
  opaque?: string;
  /** Only "auth" is offered: auth-int would make a proxy hash every body. */
  qop?: "auth";
  stale?: boolean;
}

/** Formats a challenge: `Digest realm="..", nonce="..", opaque="..", algorithm=MD5, qop="auth"`. */
export function formatDigestChallenge(challenge: DigestChallenge): string {
  let out = `Digest realm=${quoteDigestValue(challenge.realm)}, nonce=${
    quoteDigestValue(challenge.nonce)
  }`;
  if (challenge.opaque !== undefined) out += `, opaque=${quoteDigestValue(challenge.opaque)}`;
  out += `, algorithm=${challenge.algorithm}`;
  if (challenge.qop) out += `, qop="${challenge.qop}"`;
  if (challenge.stale) out += ", stale=true";
  return out;
}

/** What a client puts in one Authorization / Proxy-Authorization value. */
export interface DigestCredentials {
  username: string;
  realm: string;
  nonce: string;
  uri: string;
  response: string;
  algorithm?: DigestAlgorithm;
  opaque?: string;
  /** With qop, nc (8 hex digits) and cnonce are required. */
  qop?: "auth";
  nc?: string;
  cnonce?: string;
}

/** Formats credentials, quoting as RFC 2617 §3.2.2 does (qop, nc and algorithm unquoted). */
export function formatDigestCredentials(credentials: DigestCredentials): string {
  let out = `Digest username=${quoteDigestValue(credentials.username)}, realm=${
    quoteDigestValue(credentials.realm)
  }, nonce=${quoteDigestValue(credentials.nonce)}, uri=${quoteDigestValue(credentials.uri)}`;
  if (credentials.algorithm) out += `, algorithm=${credentials.algorithm}`;
  if (credentials.qop) {
    out += `, qop=${credentials.qop}, nc=${credentials.nc ?? "00000001"}, cnonce=${
      quoteDigestValue(credentials.cnonce ?? "")
    }`;
  }
  out += `, response="${credentials.response}"`;
  if (credentials.opaque !== undefined) out += `, opaque=${quoteDigestValue(credentials.opaque)}`;
  return out;
}

/** Inputs of the request-digest (RFC 7616 §3.4.1); HA1 comes from the account store. */
export interface DigestResponseInput {
  algorithm: DigestAlgorithm;
  /** H(username:realm:password), lowercase hex, as computeHa1 returns. */
  ha1: string;
  nonce: string;
  method: string;
  /** The digest-uri exactly as the client sent it. */
  uri: string;
  /** "auth" or absent (RFC 2069 form: H(HA1:nonce:HA2)). */
  qop?: string;
  nc?: string;
  cnonce?: string;
}

/**
 * The expected `response` value, lowercase hex: with qop=auth
 * H(HA1:nonce:nc:cnonce:qop:HA2), without qop H(HA1:nonce:HA2), where HA2 = H(method:uri).
 * auth-int is not computed (no entity body hash); callers refuse it before getting here.
 */
export function computeDigestResponse(input: DigestResponseInput): string {
  const { algorithm, ha1, nonce } = input;
  const ha2 = hashOfRequest(algorithm, input.method, input.uri);
  if (input.qop) {
    return digestHashJoined(
      algorithm,
      [ha1, nonce, input.nc ?? "", input.cnonce ?? "", input.qop, ha2],
    );
  }
  return digestHashJoined(algorithm, [ha1, nonce, ha2]);
}

/**
 * True when `response` (hex, either case) is the request-digest `computeDigestResponse`
 * gives for `input`: what a server checks, without formatting the expected value.
 */
export function digestResponseMatches(input: DigestResponseInput, response: string): boolean {
  const { algorithm, ha1, nonce } = input;
  const ha2 = hashOfRequest(algorithm, input.method, input.uri);
  // Filled in place (the hash reads them at once): no array per request.
  let parts: string[];
  if (input.qop) {
    parts = QOP_PARTS;
    parts[0] = ha1;
    parts[1] = nonce;
    parts[2] = input.nc ?? "";
    parts[3] = input.cnonce ?? "";
    parts[4] = input.qop;
    parts[5] = ha2;
  } else {
    parts = PLAIN_PARTS;
    parts[0] = ha1;
    parts[1] = nonce;
    parts[2] = ha2;
  }
  const matches = digestHashJoinedEquals(algorithm, parts, response);
  parts[0] = ""; // HA1 is a secret: not kept past the check
  return matches;
}

/** The parts of H(HA1:nonce:nc:cnonce:qop:HA2) and of H(HA1:nonce:HA2), reused. */
const QOP_PARTS = ["", "", "", "", "", ""];
const PLAIN_PARTS = ["", "", ""];

/**
 * HA2 = H(method:uri) of the last request seen per algorithm: a registrar's REGISTERs
 * share one Request-URI per domain, so most requests reuse it.
 */
const lastHa2: Record<DigestAlgorithm, { method: string; uri: string; ha2: string }> = {
  "MD5": { method: "", uri: "", ha2: "" },
  "SHA-256": { method: "", uri: "", ha2: "" },
};

function hashOfRequest(algorithm: DigestAlgorithm, method: string, uri: string): string {
  const last = lastHa2[algorithm];
  if (last.ha2 !== "" && last.method === method && last.uri === uri) return last.ha2;
  const ha2 = digestHashJoined(algorithm, [method, uri]);
  last.method = method;
  last.uri = uri;
  last.ha2 = ha2;
  return ha2;
}

/**
 * Maps an `algorithm` parameter to a supported algorithm: absent means MD5 (RFC 7616 §3.3);
 * the match is case-insensitive; `-sess` variants and anything else give undefined.
 */
export function digestAlgorithmOf(param: string | undefined): DigestAlgorithm | undefined {
  if (param === undefined) return "MD5";
  if (param === "MD5" || param === "SHA-256") return param;
  const upper = param.toUpperCase();
  if (upper === "MD5" || upper === "SHA-256") return upper;
  return undefined;
}
