/**
 * @module The generic grammar SIP header values share (RFC 3261 §25.1): `;name=value`
 * parameters, comma lists split outside quotes and angle brackets, quoted-strings. Pure
 * string work with char-code scanners; throws `SipParseError` on malformed input.
 */
import { SipParseError } from "./errors.ts";
import { TOKEN_CHARS } from "./headers.ts";

/** Parameters keep their original order; a flag parameter (`;lr`) has value null. */
export type Params = Map<string, string | null>;

/**
 * The parameters of a parsed value that has none: most URIs and many header values, so one
 * shared instance instead of a Map each. It refuses writes (copy it to add parameters).
 */
class NoParams extends Map<string, string | null> {
  override set(name: string): this {
    throw new TypeError(`parsed parameters are read-only: copy them to set ${name}`);
  }
  override delete(name: string): boolean {
    throw new TypeError(`parsed parameters are read-only: copy them to delete ${name}`);
  }
  override clear(): void {
    throw new TypeError("parsed parameters are read-only: copy them to clear them");
  }
}

export const NO_PARAMS: Params = new NoParams();

const SP = 32;
const HT = 9;
const DQUOTE = 34;
const BACKSLASH = 92;

export function isLws(c: number): boolean {
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
 * Parses `;a=b;c` (leading `;` optional) in `text` from `from` to `to`, honouring quoted
 * values and LWS around `=` (§25.1 EQUAL). An empty parameter (`;;`) is an error (RFC 4475
 * §3.1.2.1). With `tokenNames` (header parameters) each name must be a token; URI
 * parameters are laxer. Scans in place: only names and values are cut out.
 */
export function parseParams(
  text: string,
  tokenNames = false,
  from = 0,
  to: number = text.length,
): Params {
  if (from >= to) return NO_PARAMS;
  const params: Params = new Map();
  if (plain(text, from, to)) {
    parsePlainParams(params, text, from, to, tokenNames);
    return params;
  }
  if (text.indexOf('"', from) >= 0 && !quotesClosed(text, from, to)) {
    throw new SipParseError("Unterminated quoted string", text.slice(from, to));
  }
  let start = from;
  let first = true;
  while (start <= to) {
    const end = partEnd(text, start, to);
    let a = start;
    let b = end;
    while (a < b && isLws(text.charCodeAt(a))) a++;
    while (b > a && isLws(text.charCodeAt(b - 1))) b--;
    if (a === b) {
      // A leading `;` (the usual form) yields one empty first part.
      if (!first) throw new SipParseError("Bad parameter", text.slice(from, to));
    } else parseParam(params, text, a, b, tokenNames);
    first = false;
    start = end + 1;
  }
  return params;
}

/**
 * True when text[from, to) holds no LWS, quote or angle bracket: the usual
 * `;branch=z9hG4bK..;rport` or `;transport=tcp`, whose parts end at each `;`.
 */
function plain(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c < 128 && PLAIN_BREAK[c] === 1) return false;
  }
  return true;
}

/** LWS, `"`, `<` and `>`, indexed by code: what sends a parameter list down the full path. */
const PLAIN_BREAK: Uint8Array = (() => {
  const t = new Uint8Array(128);
  for (const c of [32, 9, 13, 10, DQUOTE, 60, 62]) t[c] = 1;
  return t;
})();

/** `parseParams` of a list `plain` accepted: each part split at `;` and `=` with no trimming. */
function parsePlainParams(
  params: Params,
  text: string,
  from: number,
  to: number,
  tokenNames: boolean,
): void {
  let start = from;
  let first = true;
  while (start <= to) {
    let end = text.indexOf(";", start);
    if (end < 0 || end > to) end = to;
    if (start === end) {
      // A leading `;` (the usual form) yields one empty first part.
      if (!first) throw new SipParseError("Bad parameter", text.slice(from, to));
    } else {
      let eq = text.indexOf("=", start);
      if (eq < 0 || eq > end) eq = end;
      const name = paramName(text, start, eq, tokenNames);
      if (name === undefined || eq + 1 === end) {
        throw new SipParseError("Bad parameter", text.slice(start, end));
      }
      params.set(name, eq === end ? null : text.slice(eq + 1, end));
    }
    first = false;
    start = end + 1;
  }
}

/** One `name[=value]` in text[a, b) (trimmed, non-empty) into `params`. */
function parseParam(params: Params, text: string, a: number, b: number, tokenNames: boolean) {
  let eq = a;
  while (eq < b && text.charCodeAt(eq) !== 61) eq++;
  let nameEnd = eq;
  while (nameEnd > a && isLws(text.charCodeAt(nameEnd - 1))) nameEnd--;
  const name = paramName(text, a, nameEnd, tokenNames);
  if (name === undefined) throw new SipParseError("Bad parameter", text.slice(a, b));
  if (eq === b) {
    params.set(name, null);
    return;
  }
  let v = eq + 1;
  while (v < b && isLws(text.charCodeAt(v))) v++;
  if (text.charCodeAt(v) === DQUOTE) {
    if (quotedEnd(text, v) !== b) throw new SipParseError("Bad parameter", text.slice(a, b));
  } else if (v === b || hasLwsOrQuote(text, v, b)) {
    throw new SipParseError("Bad parameter", text.slice(a, b));
  }
  params.set(name, text.slice(v, b));
}

/**
 * The lower-cased name in text[a, b), or undefined when it is empty or not allowed: with
 * `token` a token (§25.1), else anything but LWS, quotes and angle brackets.
 */
function paramName(text: string, a: number, b: number, token: boolean): string | undefined {
  if (a === b) return undefined;
  let upper = false;
  for (let i = a; i < b; i++) {
    const c = text.charCodeAt(i);
    if (
      token ? c >= 128 || TOKEN_CHARS[c] === 0 : isLws(c) || c === DQUOTE || c === 60 || c === 62
    ) {
      return undefined;
    }
    if (c >= 65 && c <= 90) upper = true;
  }
  if (upper) return text.slice(a, b).toLowerCase();
  return commonName(text, a, b) ?? text.slice(a, b);
}

/** The usual parameter names, so the common ones are not cut out of every message. */
const COMMON_NAMES = ["tag", "branch", "rport", "received", "lr", "transport", "expires"];

function commonName(text: string, a: number, b: number): string | undefined {
  const n = b - a;
  for (const name of COMMON_NAMES) {
    if (name.length === n && text.startsWith(name, a)) return name;
  }
  return undefined;
}

/** End of the `;`-separated part starting at `from`: the next `;` outside quotes and `<>`. */
function partEnd(text: string, from: number, to: number): number {
  let depth = 0;
  let quoted = false;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (quoted) {
      if (c === BACKSLASH) i++;
      else if (c === DQUOTE) quoted = false;
    } else if (c === DQUOTE) quoted = true;
    else if (c === 60) depth++;
    else if (c === 62) depth = depth > 0 ? depth - 1 : 0;
    else if (c === 59 && depth === 0) return i;
  }
  return to;
}

/** False when a quoted-string opened in text[from, to) is not closed before `to`. */
function quotesClosed(text: string, from: number, to: number): boolean {
  let quoted = false;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (quoted) {
      if (c === BACKSLASH) i++;
      else if (c === DQUOTE) quoted = false;
    } else if (c === DQUOTE) quoted = true;
  }
  return !quoted;
}

function hasLwsOrQuote(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (isLws(c) || c === DQUOTE) return true;
  }
  return false;
}

/** Index just past the closing quote of the quoted-string opening at `from`, or -1. */
export function quotedEnd(text: string, from: number): number {
  for (let i = from + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === BACKSLASH) i++;
    else if (c === DQUOTE) return i + 1;
  }
  return -1;
}

/** What `formatParams` has written so far (formatting never nests). */
let formatted = "";

function formatParam(v: string | null, k: string): void {
  formatted += v === null ? ";" + k : ";" + k + "=" + v;
}

export function formatParams(params: Params): string {
  if (params.size === 0) return "";
  // forEach, not for-of: no [key, value] pair is allocated per parameter; and a callback
  // defined once, not a closure over a local per call.
  formatted = "";
  params.forEach(formatParam);
  const out = formatted;
  formatted = "";
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

/** ASCII lower-case, without a copy when there is nothing to lower. */
export function toLower(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 65 && c <= 90) return text.toLowerCase();
  }
  return text;
}
