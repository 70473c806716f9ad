/**
 * @module Header names: canonical spelling, compact forms (RFC 3261 §7.3.3 and extensions),
 * the `token` character class, and the headers whose values may be comma-separated lists
 * (§7.3.1). Pure lookup tables; never parses header values.
 */

// Maps, not object literals: a header named "constructor" or "__proto__" must not hit
// Object.prototype (found by the property tests).
const COMPACT = new Map<string, string>(Object.entries({
  i: "call-id",
  m: "contact",
  e: "content-encoding",
  l: "content-length",
  c: "content-type",
  f: "from",
  s: "subject",
  k: "supported",
  t: "to",
  v: "via",
  o: "event",
  r: "refer-to",
  b: "referred-by",
  u: "allow-events",
  x: "session-expires",
  a: "accept-contact",
  j: "reject-contact",
  d: "request-disposition",
  y: "identity",
  n: "identity-info",
}));

const CANONICAL = new Map<string, string>(Object.entries({
  "call-id": "Call-ID",
  cseq: "CSeq",
  "www-authenticate": "WWW-Authenticate",
  "mime-version": "MIME-Version",
  "rack": "RAck",
  "rseq": "RSeq",
  "sip-etag": "SIP-ETag",
  "sip-if-match": "SIP-If-Match",
}));

/**
 * Spellings seen on the wire → key. Bounded so that a flood of random header names cannot
 * grow it without limit; common names hit it on every message.
 */
const KEY_CACHE = new Map<string, string>();
const KEY_CACHE_MAX = 1024;

/** Lower-case full name for comparisons: "i" → "call-id", "Via" → "via". */
export function headerKey(name: string): string {
  let key = KEY_CACHE.get(name);
  if (key !== undefined) return key;
  const lower = name.toLowerCase();
  key = COMPACT.get(lower) ?? lower;
  if (KEY_CACHE.size < KEY_CACHE_MAX) KEY_CACHE.set(name, key);
  return key;
}

/**
 * `token` characters (RFC 3261 §25.1): alphanum and `-.!%*_+\`'~`. Indexed by char code;
 * 1 = allowed.
 */
export const TOKEN_CHARS: Uint8Array = alphanumAnd("-.!%*_+`'~");

/** A 128-entry ASCII class table: 1 for alphanum and for each character of `extra`. */
export function alphanumAnd(extra: string): Uint8Array {
  const t = new Uint8Array(128);
  for (let c = 48; c <= 57; c++) t[c] = 1;
  for (let c = 65; c <= 90; c++) t[c] = 1;
  for (let c = 97; c <= 122; c++) t[c] = 1;
  for (const ch of extra) t[ch.charCodeAt(0)] = 1;
  return t;
}

/** True when `text` is a non-empty `token`. */
export function isToken(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || TOKEN_CHARS[c] === 0) return false;
  }
  return true;
}

/** Computed spellings, so the regex runs once per key; bounded like KEY_CACHE. */
const NAME_CACHE = new Map<string, string>();

/** Conventional spelling of a header key: "call-id" → "Call-ID", "max-forwards" → "Max-Forwards". */
export function canonicalName(key: string): string {
  let name = CANONICAL.get(key) ?? NAME_CACHE.get(key);
  if (name !== undefined) return name;
  name = key.replace(/(^|-)([a-z])/g, (_m, dash, c) => dash + c.toUpperCase());
  if (NAME_CACHE.size < KEY_CACHE_MAX) NAME_CACHE.set(key, name);
  return name;
}

/**
 * Headers that are never comma-split: their grammar allows commas inside a single value
 * (dates, auth parameters) or they are not lists at all.
 */
const SINGLE_VALUE = new Set([
  "www-authenticate",
  "authorization",
  "proxy-authenticate",
  "proxy-authorization",
  "authentication-info",
  "date",
  "retry-after",
  "call-id",
  "cseq",
  "from",
  "to",
  "content-length",
  "content-type",
  "max-forwards",
  "subject",
  "user-agent",
  "server",
  "expires",
  "min-expires",
  "organization",
  "timestamp",
  "session-expires",
  "refer-to",
  "referred-by",
]);

export function isListHeader(key: string): boolean {
  return !SINGLE_VALUE.has(key);
}
