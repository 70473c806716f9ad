/**
 * @module Bytes → SipRequest/SipResponse (RFC 3261 §7, §25). Checks the start line, splits
 * the header lines (unfolding continuations, §7.3.1), expands compact names and frames the
 * body by Content-Length, but leaves every header value a raw string: accessors on the
 * message parse them when read. `validateMessage` is the opt-in strict check of the hot
 * headers (RFC 4475 §3.1.2, §3.3) for the layer that answers 400. Throws `SipParseError`
 * naming the reason, nothing else; does no I/O and keeps no state between calls.
 */
import { SipParseError } from "./errors.ts";
import { canonicalName, headerKey, isToken, TOKEN_CHARS } from "./headers.ts";
import { type Header, type SipMessage, SipRequest, SipResponse } from "./message.ts";
import { nextLf, wordsOf } from "./scan.ts";

const decoder = new TextDecoder();

/** Header names already checked to be tokens → key; bounded against floods of odd names. */
const NAME_KEYS = new Map<string, string>();
const NAME_KEYS_MAX = 1024;

/**
 * A header name's spelling as last seen in its hash slot, with its key, the name it is
 * written with and, for a few headers, the last value it carried. A usual name is matched
 * in place in the head without being cut out and looked up; a remembered value equal to
 * the new one is that very string, not a new slice: From, To and Contact repeat from
 * message to message (a refresh, a digest retry), and the shared name-addr parses keyed by
 * them are then found by identity instead of hashing and comparing a fresh slice.
 */
class SeenName {
  value: string | undefined = undefined;
  /** Whether values are remembered: only where a repeat is likely and read by identity. */
  readonly remembers: boolean;
  constructor(readonly name: string, readonly key: string, readonly written: string) {
    this.remembers = REMEMBERED.has(key);
  }
}

/** Values that repeat and that the shared name-addr parses are keyed by. */
const REMEMBERED = new Set(["from", "to", "contact"]);

const SEEN_MASK = 255;
const SEEN: (SeenName | undefined)[] = new Array(SEEN_MASK + 1).fill(undefined);

/** Length, first and last character: enough to tell the usual header names apart. */
function nameHash(text: string, from: number, to: number): number {
  return (to - from) * 37 + text.charCodeAt(from) * 11 + text.charCodeAt(to - 1);
}

/**
 * The entry of the name head[from, to), made (and the name checked) when not there yet.
 * `head` is the decoded head, not a folded line's joined text.
 */
function seenName(head: string, from: number, to: number): SeenName {
  const slot = nameHash(head, from, to) & SEEN_MASK;
  const entry = SEEN[slot];
  if (entry !== undefined && sameText(head, from, to, entry.name)) return entry;
  const name = head.slice(from, to);
  const key = keyOf(name);
  const written = name.length === 1 ? canonicalName(key) : name;
  return SEEN[slot] = new SeenName(name, key, written);
}

/**
 * True when text[from, to) is `other`: a length check, then `startsWith` (a char-code
 * loop in JavaScript measured slower in the server's process, `bench/core_path.ts`).
 */
function sameText(text: string, from: number, to: number, other: string): boolean {
  return other.length === to - from && text.startsWith(other, from);
}

/** The key of a header name that is a token; throws when it is not. */
function keyOf(name: string): string {
  let key = NAME_KEYS.get(name);
  if (key === undefined) {
    if (!isTokenFast(name)) throw new SipParseError("Bad header name", name);
    key = headerKey(name);
    if (NAME_KEYS.size < NAME_KEYS_MAX) NAME_KEYS.set(name, key);
  }
  return key;
}

/**
 * Index just after the blank line ending the head within bytes[from, to), or -1. Accepts
 * bare LF too. Jumps from LF to LF a word at a time (`nextLf`, as the stream framer does).
 */
export function findHeadEnd(bytes: Uint8Array, from = 0, to = bytes.length): number {
  const words = wordsOf(bytes);
  for (let i = nextLf(bytes, words, from, to); i + 1 < to; i = nextLf(bytes, words, i + 1, to)) {
    const x = bytes[i + 1];
    if (x === 10) return i + 2;
    if (x === 13 && i + 2 < to && bytes[i + 2] === 10) return i + 3;
  }
  return -1;
}

export interface ParseOptions {
  /** Streams need Content-Length (§18.3); datagrams may omit it. */
  stream?: boolean;
  /**
   * Copy the body out of `bytes`. Off by default: the body is a view into `bytes`, which
   * is safe because transports hand over a fresh buffer per datagram / framed message;
   * set it when the caller reuses its read buffer.
   */
  copyBody?: boolean;
}

/**
 * Parses one whole message in named steps: the head is cut out and decoded, the start line
 * read, the header lines split (with their Content-Length), then the body framed. For
 * datagrams the body is what follows the head.
 */
export function parseMessage(bytes: Uint8Array, options: ParseOptions = {}): SipMessage {
  let start = 0;
  const n = bytes.length;
  // Leading CRLFs are allowed before a message (§7.5).
  while (start < n && (bytes[start] === 13 || bytes[start] === 10)) start++;
  let text: string | undefined;
  if (endsWithBlankLine(bytes, start)) {
    // Most likely no body (a REGISTER, a reply without SDP): decoded whole, the head's end
    // is found by the line split itself, not by a scan of the bytes first. One UTF-16 unit
    // per byte means every byte was ASCII (or a lone invalid byte), so string offsets are
    // byte offsets; anything else (multi-byte text, a BOM) goes the general way.
    text = decoder.decode(start === 0 ? bytes : bytes.subarray(start));
    if (text.length !== n - start) text = undefined;
  }
  let headEnd = -1;
  if (text === undefined) {
    headEnd = findHeadEnd(bytes, start);
    if (headEnd < 0) throw new SipParseError("Incomplete message", "no blank line after headers");
    text = decoder.decode(bytes.subarray(start, headEnd));
  }
  const eol = text.indexOf("\n");
  const message = parseStartLine(text, eol);
  const textHeadEnd = parseHeaderLines(text, eol + 1);
  // An array of exactly the lines' size (a push-grown one reserves room for 16 or more).
  message.headers = LINES.slice(0, lineCount);
  if (topViaLine !== undefined || credentialsLine !== undefined) {
    message.noteLines(text, topViaLine, topViaFrom, credentialsLine, credentialsFrom);
  }
  // A head of many lines does not keep that many stale ones.
  if (LINES.length > LINES_KEPT) LINES.length = LINES_KEPT;
  if (headEnd < 0) headEnd = start + textHeadEnd;
  frameBody(message, bytes, headEnd, contentLength, options);
  return message;
}

/** True when bytes[from, ...) ends with an empty line (LF LF or LF CR LF). */
function endsWithBlankLine(bytes: Uint8Array, from: number): boolean {
  const n = bytes.length;
  if (n - from < 4 || bytes[n - 1] !== 10) return false;
  const c = bytes[n - 2];
  return c === 10 || (c === 13 && bytes[n - 3] === 10);
}

/** Content-Length of the head `parseHeaderLines` split last: -1 when absent. */
let contentLength = -1;
/**
 * The first Via line's value of that head and the first Authorization or
 * Proxy-Authorization value, and where each starts in it (see `noteLines`).
 */
let topViaLine: string | undefined;
let topViaFrom = 0;
let credentialsLine: string | undefined;
let credentialsFrom = 0;

/**
 * The header lines `parseHeaderLines` split last are LINES[0, lineCount): reused from
 * message to message, copied out at its size. Entries past `lineCount` are stale.
 */
const LINES: Header[] = [];
let lineCount = 0;
const LINES_KEPT = 64;

/**
 * The header lines of a head from `from` on, into LINES: continuations unfolded
 * (§7.3.1), names checked as tokens and keyed, values trimmed and kept raw. Returns the
 * index just after the blank line ending the head (throws when there is none) and sets
 * `contentLength`; conflicting Content-Length values throw.
 */
function parseHeaderLines(head: string, from: number): number {
  topViaLine = undefined;
  credentialsLine = undefined;
  let n = 0;
  let eol: number;
  let length = -1;
  let lengthText: string | undefined;
  let pos = from;
  const end = head.length;
  for (;;) {
    if (pos >= end) throw new SipParseError("Incomplete message", "no blank line after headers");
    eol = head.indexOf("\n", pos);
    if (eol < 0) eol = end;
    let lineEnd = eol > pos && head.charCodeAt(eol - 1) === 13 ? eol - 1 : eol;
    if (lineEnd === pos) break; // the blank line
    let text = head;
    let lineStart = pos;
    pos = eol + 1;
    if (pos < end && isLws(head.charCodeAt(pos))) {
      // Folded continuations (§7.3.1): each CRLF + LWS becomes a single space. Rare, so
      // only this path builds a joined string.
      let line = head.slice(lineStart, lineEnd);
      while (pos < end && isLws(head.charCodeAt(pos))) {
        eol = head.indexOf("\n", pos);
        if (eol < 0) eol = end;
        const more = trimLws(stripCr(head, pos, eol));
        pos = eol + 1;
        if (more) line = line + " " + more;
      }
      text = line;
      lineStart = 0;
      lineEnd = line.length;
    }
    const first = text.charCodeAt(lineStart);
    if (isLws(first)) throw new SipParseError("Bad header folding", text.slice(lineStart, lineEnd));
    const colon = text.indexOf(":", lineStart);
    if (colon <= lineStart || colon >= lineEnd) {
      throw new SipParseError("Bad header", text.slice(lineStart, lineEnd));
    }
    let nameEnd = colon;
    while (isLws(text.charCodeAt(nameEnd - 1))) nameEnd--;
    let a = colon + 1;
    let b = lineEnd;
    while (a < b && isLws(text.charCodeAt(a))) a++;
    while (b > a && isLws(text.charCodeAt(b - 1))) b--;
    let key: string;
    let written: string;
    let value: string | undefined;
    if (text === head) {
      const seen = seenName(head, lineStart, nameEnd);
      key = seen.key;
      written = seen.written;
      if (seen.remembers) {
        value = seen.value;
        if (value === undefined || !sameText(head, a, b, value)) {
          value = head.slice(a, b);
          seen.value = value;
        }
      } else {
        value = head.slice(a, b);
        if (key === "via") {
          if (topViaLine === undefined) {
            topViaLine = value;
            topViaFrom = a;
          }
        } else if (
          (key === "authorization" || key === "proxy-authorization") &&
          credentialsLine === undefined
        ) {
          credentialsLine = value;
          credentialsFrom = a;
        }
      }
    } else {
      // A folded line (rare): its joined text is not kept in the table.
      const name = text.slice(lineStart, nameEnd);
      key = keyOf(name);
      written = name.length === 1 ? canonicalName(key) : name;
      value = text.slice(a, b);
    }
    const header = { key, name: written, value };
    if (n < LINES.length) LINES[n] = header;
    else LINES.push(header);
    n++;
    if (key === "content-length") {
      if (lengthText === undefined) {
        lengthText = value;
        length = parseContentLength(value);
      } else if (value !== lengthText && parseContentLength(value) !== length) {
        throw new SipParseError("Bad Content-Length", "conflicting values");
      }
    }
  }
  contentLength = length;
  lineCount = n;
  return eol + 1;
}

/** §18.3: Content-Length frames the body; streams need it, datagrams may omit it. */
function frameBody(
  message: SipMessage,
  bytes: Uint8Array,
  headEnd: number,
  contentLength: number,
  options: ParseOptions,
): void {
  let length = contentLength;
  const available = bytes.length - headEnd;
  if (length < 0) {
    if (options.stream) throw new SipParseError("Missing Content-Length");
    length = available;
  }
  if (length > available) {
    throw new SipParseError("Bad Content-Length", `says ${length}, body has ${available}`);
  }
  // Extra bytes past Content-Length in a datagram are discarded (§18.3).
  if (length > 0) {
    message.body = options.copyBody
      ? bytes.slice(headEnd, headEnd + length)
      : bytes.subarray(headEnd, headEnd + length);
  }
}

/** Content-Length = 1*DIGIT; anything else (sign, letters, overflow) is a framing error. */
function parseContentLength(text: string): number {
  if (text.length === 0 || text.length > 10) throw new SipParseError("Bad Content-Length", text);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) throw new SipParseError("Bad Content-Length", text);
    n = n * 10 + c;
  }
  return n;
}

function stripCr(text: string, from: number, to: number): string {
  return to > from && text.charCodeAt(to - 1) === 13
    ? text.slice(from, to - 1)
    : text.slice(from, to);
}

/**
 * Strips SP/HT only: String#trim would also eat U+FEFF and other Unicode spaces that are
 * part of a value (RFC 4475 §3.1.1.2).
 */
function trimLws(text: string): string {
  let a = 0;
  let b = text.length;
  while (a < b && isLws(text.charCodeAt(a))) a++;
  while (b > a && isLws(text.charCodeAt(b - 1))) b--;
  return a === 0 && b === text.length ? text : text.slice(a, b);
}

function isLws(c: number): boolean {
  return c === 32 || c === 9;
}

function isTokenFast(text: string): boolean {
  const n = text.length;
  if (n === 0) return false;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || TOKEN_CHARS[c] === 0) return false;
  }
  return true;
}

/** Methods whose request lines are read in place: the name is this string, not a slice. */
const METHODS = [
  "REGISTER",
  "INVITE",
  "ACK",
  "BYE",
  "CANCEL",
  "OPTIONS",
  "MESSAGE",
  "SUBSCRIBE",
  "NOTIFY",
  "PUBLISH",
  "INFO",
  "PRACK",
  "UPDATE",
  "REFER",
];

/** The last Request-URI read (checked then): a UA sends the same one again and again. */
let lastUri = "";

/**
 * The start line text[0, eol): the usual `METHOD uri SIP/2.0` of a known method read in
 * place, anything else (responses included) by `parseLine`.
 */
function parseStartLine(text: string, eol: number): SipMessage {
  const end = eol > 0 && text.charCodeAt(eol - 1) === 13 ? eol - 1 : eol;
  const sp1 = text.indexOf(" ");
  const sp2 = sp1 > 0 && sp1 < end ? text.indexOf(" ", sp1 + 1) : -1;
  if (sp2 > 0 && sp2 < end && sameText(text, sp2 + 1, end, "SIP/2.0")) {
    for (const method of METHODS) {
      if (sameText(text, 0, sp1, method)) {
        let uri = lastUri;
        if (!sameText(text, sp1 + 1, sp2, uri)) {
          uri = text.slice(sp1 + 1, sp2);
          checkRequestUri(uri);
          lastUri = uri;
        }
        return new SipRequest(method, uri);
      }
    }
  }
  return parseLine(text.slice(0, end));
}

function parseLine(line: string): SipMessage {
  if (line.startsWith("SIP/")) return parseStatusLine(line);
  // Request-Line = Method SP Request-URI SP SIP-Version (§25.1): exactly two single spaces.
  const sp1 = line.indexOf(" ");
  const sp2 = sp1 < 0 ? -1 : line.indexOf(" ", sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || line.indexOf(" ", sp2 + 1) >= 0) {
    throw new SipParseError("Bad request line", line);
  }
  const method = line.slice(0, sp1);
  const uri = line.slice(sp1 + 1, sp2);
  const version = line.slice(sp2 + 1);
  if (!isTokenFast(method)) throw new SipParseError("Bad method", method);
  checkRequestUri(uri);
  if (version !== "SIP/2.0") {
    if (!/^SIP\/\d+\.\d+$/i.test(version)) throw new SipParseError("Bad request line", line);
    if (version.toUpperCase() !== "SIP/2.0") {
      throw new SipParseError("Version Not Supported", version, 505);
    }
  }
  return new SipRequest(method, uri);
}

/**
 * Request-URI = SIP-URI / SIPS-URI / absoluteURI. Rejects LWS, controls and `<>"` (RFC 4475
 * §3.1.2.7/8) and, for sip/sips, URI headers, which are not allowed there (§19.1.1 table,
 * RFC 4475 §3.1.2.11). Other schemes stay opaque: the core answers 416.
 */
function checkRequestUri(uri: string): void {
  const colon = uri.indexOf(":");
  if (colon <= 0) throw new SipParseError("Bad Request-URI", uri);
  for (let i = 0; i < uri.length; i++) {
    const c = uri.charCodeAt(i);
    if (c <= 32 || c === 127 || c === 60 || c === 62 || c === 34) {
      throw new SipParseError("Bad Request-URI", uri);
    }
  }
  const scheme = uri.slice(0, colon).toLowerCase();
  if (scheme === "sip" || scheme === "sips") {
    // '@' cannot appear unescaped after the userinfo, so a '?' past it starts URI headers.
    const at = uri.indexOf("@");
    if (uri.indexOf("?", at + 1) >= 0) throw new SipParseError("Bad Request-URI", uri);
  }
}

function parseStatusLine(line: string): SipResponse {
  // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (§25.1).
  const sp = line.indexOf(" ");
  if (sp < 0) throw new SipParseError("Bad status line", line);
  const version = line.slice(0, sp);
  if (version !== "SIP/2.0") {
    if (!/^SIP\/\d+\.\d+$/.test(version)) throw new SipParseError("Bad status line", line);
    throw new SipParseError("Version Not Supported", version.slice(4), 505);
  }
  const d0 = line.charCodeAt(sp + 1) - 48;
  const d1 = line.charCodeAt(sp + 2) - 48;
  const d2 = line.charCodeAt(sp + 3) - 48;
  const after = line.length > sp + 4 ? line.charCodeAt(sp + 4) : 32;
  if (
    !(d0 >= 0 && d0 <= 9 && d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9) || after !== 32
  ) throw new SipParseError("Bad status line", line);
  const status = d0 * 100 + d1 * 10 + d2;
  if (status < 100 || status > 699) throw new SipParseError("Bad status code", String(status));
  return new SipResponse(status, line.slice(sp + 5));
}

/** Headers that must appear at most once (RFC 3261 §7.3.1, RFC 4475 §3.3.8). */
const SINGLE = ["call-id", "cseq", "from", "to", "max-forwards", "content-type"];

/**
 * Strict check of what every layer above relies on: a top Via, From, To, Call-ID and CSeq
 * that parse, none of the single-valued ones repeated, Max-Forwards in range and, for a
 * request, a CSeq method equal to the request method (§8.1.1.5). Each is parsed once and
 * kept in the message's parse cache for the layers that read it; throws `SipParseError`
 * whose reason is meant for a `400` reason phrase. Not called by `parseMessage`: parsing
 * stays lazy and the sanity step decides when to pay for this.
 */
export function validateMessage(message: SipMessage): void {
  // One bit per single-valued header seen: no counts to allocate per message.
  let seen = 0;
  let repeated = 0;
  for (const h of message.headers) {
    const at = SINGLE.indexOf(h.key);
    if (at < 0) continue;
    repeated |= seen & (1 << at);
    seen |= 1 << at;
  }
  if (repeated !== 0) {
    // The first repeated one in SINGLE's order, whatever the order of the lines.
    const at = 31 - Math.clz32(repeated & -repeated);
    throw new SipParseError(`Multiple ${canonicalName(SINGLE[at])}`);
  }
  if (message.vias.length === 0) throw new SipParseError("Missing Via");
  message.from;
  message.to;
  message.callId;
  const cseq = message.cseq;
  message.maxForwards;
  message.contactList;
  if (message.isRequest && cseq.method !== message.method) {
    throw new SipParseError("CSeq method mismatch", `${message.method} vs ${cseq.method}`);
  }
  if (message.isRequest && !isToken(message.method)) throw new SipParseError("Bad method");
}
