/**
 * @module Header names: canonical spelling, compact forms (RFC 3261 §7.3.3 and extensions)
 * and the headers whose values may be comma-separated lists (§7.3.1). Pure lookup tables.
 */

const COMPACT: Record<string, string> = {
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
};

const CANONICAL: Record<string, string> = {
  "call-id": "Call-ID",
  cseq: "CSeq",
  "www-authenticate": "WWW-Authenticate",
  "mime-version": "MIME-Version",
  "rack": "RAck",
  "rseq": "RSeq",
  "sip-etag": "SIP-ETag",
  "sip-if-match": "SIP-If-Match",
};

/** Lower-case full name for comparisons: "i" → "call-id", "Via" → "via". */
export function headerKey(name: string): string {
  const lower = name.toLowerCase();
  return COMPACT[lower] ?? lower;
}

/** Conventional spelling of a header key: "call-id" → "Call-ID", "max-forwards" → "Max-Forwards". */
export function canonicalName(key: string): string {
  return CANONICAL[key] ?? key.replace(/(^|-)([a-z])/g, (_m, dash, c) => dash + c.toUpperCase());
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
