/**
 * @module The generic grammar SIP header values share (RFC 3261 §25.1): `;name=value`
 * parameters, comma lists split outside quotes and angle brackets, quoted-strings. Pure
 * string work with char-code scanners; throws `SipParseError` on malformed input.
 */
import { SipParseError } from "./errors.ts";
import { isToken } from "./headers.ts";

/** Parameters keep their original order; a flag parameter (`;lr`) has value null. */
export type Params = Map<string, string | null>;

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
export function quotedEnd(text: string, from: number): number {
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

/** ASCII lower-case, without a copy when there is nothing to lower. */
export function toLower(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 65 && c <= 90) return text.toLowerCase();
  }
  return text;
}
