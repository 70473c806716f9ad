/**
 * @module SIP requests and responses as ordered header lists plus a body. Header values
 * stay raw strings; the hot headers (Via, From, To, Call-ID, CSeq, Contact, Route,
 * Max-Forwards, ...) are parsed only when an accessor is called, so a proxy pays for what
 * it reads. Also `createResponse` (RFC 3261 §8.2.6) and serialization. No I/O.
 */
import { SipParseError } from "./errors.ts";
import { canonicalName, headerKey, isListHeader, isToken } from "./headers.ts";
import { type NameAddr, parseNameAddr, parseNameAddrShared } from "./name_addr.ts";
import { splitTopLevel } from "./params.ts";
import { formatVia, parseVia, type Via } from "./via.ts";
import { reasonPhrase } from "./status.ts";
import { hasTag } from "./tag.ts";

export interface Header {
  /** Lower-case full name, compact forms expanded ("v" → "via"). */
  key: string;
  /** Name as it will be written. */
  name: string;
  value: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const EMPTY = new Uint8Array(0);

/**
 * Serialized messages are carved out of shared slabs: allocating one ArrayBuffer per
 * message costs more than encoding it. A slab is never reused, only dropped once full, so
 * a view stays valid for as long as anyone holds it (and holding one keeps its slab).
 */
const SLAB_BYTES = 128 * 1024;
/** Messages whose worst-case size is above this get their own buffer. */
const SLAB_MAX_MESSAGE = 16 * 1024;
let slab = new Uint8Array(SLAB_BYTES + SLAB_MAX_MESSAGE);
/** slab[SLAB_BYTES, ...): where a head is encoded before it is moved to its place. */
let slabScratch = slab.subarray(SLAB_BYTES);
let slabUsed = 0;

/** Name as passed to `append` → key and written spelling: one lookup instead of three. */
const SPELLINGS = new Map<string, { key: string; name: string }>();

function spellingOf(name: string): { key: string; name: string } {
  let spelling = SPELLINGS.get(name);
  if (spelling === undefined) {
    const key = headerKey(name);
    spelling = { key, name: canonicalName(key) };
    // Bounded: names come from code, but a proxy may append names it was sent.
    if (SPELLINGS.size < 1024) SPELLINGS.set(name, spelling);
  }
  return spelling;
}

/** Header name as written → "\r\nName: ", what starts its line in a serialized head. */
const LINE_PREFIXES = new Map<string, string>();
const EMPTY_BODY_END = "\r\nContent-Length: 0\r\n\r\n";

function linePrefix(name: string): string {
  let prefix = LINE_PREFIXES.get(name);
  if (prefix === undefined) {
    prefix = "\r\n" + name + ": ";
    // Bounded: a proxy serializes names it was sent.
    if (LINE_PREFIXES.size < 1024) LINE_PREFIXES.set(name, prefix);
  }
  return prefix;
}

function wire(head: string, body: Uint8Array): Uint8Array {
  const worst = head.length * 3 + body.length;
  if (worst > SLAB_MAX_MESSAGE) {
    const headBytes = encoder.encode(head);
    if (body.length === 0) return headBytes;
    const out = new Uint8Array(headBytes.length + body.length);
    out.set(headBytes);
    out.set(body, headBytes.length);
    return out;
  }
  if (slabUsed + worst > SLAB_BYTES) {
    slab = new Uint8Array(SLAB_BYTES + SLAB_MAX_MESSAGE);
    slabScratch = slab.subarray(SLAB_BYTES);
    slabUsed = 0;
  }
  const start = slabUsed;
  // Encoded into the slab's scratch tail, then moved in place: a view of the slab from
  // `start` on, for `encodeInto` to write at, would be an object per message.
  const written = encoder.encodeInto(head, slabScratch).written;
  slab.copyWithin(start, SLAB_BYTES, SLAB_BYTES + written);
  let end = start + written;
  if (body.length > 0) {
    slab.set(body, end);
    end += body.length;
  }
  slabUsed = (end + 7) & ~7;
  return slab.subarray(start, end);
}

export interface CSeq {
  seq: number;
  method: string;
}

/**
 * Hot headers parsed once per message, each kept with the raw value(s) it came from: an
 * entry is used only while the raw values are still equal to those, so writes through
 * `set`/`append`/... or straight into `headers` never surface a stale parse. One object
 * with fixed fields (not a Map of entries): created at the first read, cheap to fill.
 */
class ParseCache {
  fromRaw: string | undefined = undefined;
  from: NameAddr | undefined = undefined;
  toRaw: string | undefined = undefined;
  to: NameAddr | undefined = undefined;
  topViaRaw: string | undefined = undefined;
  topVia: Via | undefined = undefined;
  viasRaw: string[] | undefined = undefined;
  vias: Via[] | undefined = undefined;
  contactsRaw: string[] | undefined = undefined;
  contacts: NameAddr[] | undefined = undefined;
  cseqRaw: string | undefined = undefined;
  cseq: CSeq | undefined = undefined;
  /**
   * Lines the parser noted (see `noteLines`): the decoded head, the first Via line's value
   * at head[viaFrom, ...) and the first Authorization or Proxy-Authorization value at
   * head[credentialsFrom, ...), each as long as the line.
   */
  head = "";
  viaLine: string | undefined = undefined;
  viaFrom = 0;
  credentialsLine: string | undefined = undefined;
  credentialsFrom = 0;
}

abstract class SipMessageBase {
  headers: Header[] = [];
  body: Uint8Array = EMPTY;
  /** Hot headers parsed once per message, not once per reader (see ParseCache). */
  #cache: ParseCache | undefined;

  get #parsed(): ParseCache {
    return this.#cache ??= new ParseCache();
  }

  /** First raw value of the header with this (already lower-case, expanded) key. */
  #first(key: string): string | undefined {
    const headers = this.headers;
    for (let i = 0; i < headers.length; i++) if (headers[i].key === key) return headers[i].value;
    return undefined;
  }

  /** Raw values of every header line with this key (lines, not comma-split). */
  #lines(key: string): string[] {
    // A literal for the first line: `[]` + push reserves room for 17 (most have one).
    let out: string[] | undefined;
    for (const h of this.headers) {
      if (h.key !== key) continue;
      if (out === undefined) out = [h.value];
      else out.push(h.value);
    }
    return out ?? [];
  }

  /** True when the lines with this key are exactly `raw`, without building their list. */
  #sameLines(key: string, raw: string[] | undefined): boolean {
    if (raw === undefined) return false;
    let n = 0;
    for (const h of this.headers) {
      if (h.key !== key) continue;
      if (n >= raw.length || raw[n] !== h.value) return false;
      n++;
    }
    return n === raw.length;
  }

  /** First raw value of a header (the whole line for list headers). */
  get(name: string): string | undefined {
    const key = headerKey(name);
    for (const h of this.headers) if (h.key === key) return h.value;
    return undefined;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** Every value, comma lists split into single values, in order. */
  getAll(name: string): string[] {
    const key = headerKey(name);
    const split = isListHeader(key);
    // Sized by what is found (usually nothing or one value), as in #lines.
    let out: string[] | undefined;
    for (const h of this.headers) {
      if (h.key !== key) continue;
      if (split && h.value.includes(",")) {
        out ??= [];
        for (const v of splitTopLevel(h.value, ",")) if (v.trim()) out.push(v.trim());
      } else if (out === undefined) out = [h.value];
      else out.push(h.value);
    }
    return out ?? [];
  }

  /** Replaces every occurrence with one header (or removes them when value is undefined). */
  set(name: string, value: string | undefined): void {
    const key = headerKey(name);
    const headers = this.headers;
    let at = -1;
    let count = 0;
    for (let i = 0; i < headers.length; i++) {
      if (headers[i].key !== key) continue;
      if (at < 0) at = i;
      count++;
    }
    // One line to replace (Max-Forwards of a forwarded request): in place, no new list.
    if (count === 1 && value !== undefined) {
      headers[at] = { key, name: canonicalName(key), value };
      return;
    }
    if (count > 0) this.headers = headers.filter((h) => h.key !== key);
    if (value === undefined) return;
    const header = { key, name: canonicalName(key), value };
    if (at < 0) this.headers.push(header);
    else this.headers.splice(at, 0, header);
  }

  append(name: string, value: string): void {
    const { key, name: written } = spellingOf(name);
    this.headers.push({ key, name: written, value });
  }

  /** Inserts before the first header of that name (or first of all), e.g. a new top Via. */
  prepend(name: string, value: string): void {
    const { key, name: written } = spellingOf(name);
    const headers = this.headers;
    let at = 0;
    while (at < headers.length && headers[at].key !== key) at++;
    if (at === headers.length) at = 0;
    // Moved up by hand: `splice` makes an array of the removed lines (none) each time.
    headers.push(headers[headers.length - 1]);
    for (let i = headers.length - 2; i > at; i--) headers[i] = headers[i - 1];
    headers[at] = { key, name: written, value };
  }

  remove(name: string): void {
    this.set(name, undefined);
  }

  /** Removes and returns the first value of a list header (top Via, top Route). */
  shift(name: string): string | undefined {
    const key = headerKey(name);
    const at = this.headers.findIndex((h) => h.key === key);
    if (at < 0) return undefined;
    const value = this.headers[at].value;
    // One value on the line (a Via or Route as UAs and proxies write them): no list to split.
    if (value.indexOf(",") < 0) {
      this.headers.splice(at, 1);
      return value.trim();
    }
    const parts = splitTopLevel(value, ",");
    const first = parts.shift()!.trim();
    if (parts.length === 0) this.headers.splice(at, 1);
    else this.headers[at] = { ...this.headers[at], value: parts.join(",").trim() };
    return first;
  }

  get callId(): string {
    const v = this.#first("call-id");
    if (!v) throw new SipParseError("Missing Call-ID");
    return v.trim();
  }

  get cseq(): CSeq {
    const v = this.#first("cseq");
    const cache = this.#parsed;
    if (v !== undefined && v === cache.cseqRaw) return cache.cseq!;
    const cseq = v === undefined ? undefined : parseCSeq(v);
    if (!cseq) throw new SipParseError("Bad CSeq", v ?? "missing");
    cache.cseqRaw = v;
    return cache.cseq = cseq;
  }

  get from(): NameAddr {
    const v = this.#first("from");
    if (!v) throw new SipParseError("Missing From");
    const cache = this.#parsed;
    if (v === cache.fromRaw) return cache.from!;
    // Not through the shared memo: a From's tag is new with each call, and every insert of
    // one cost V8 old-space allocation (docs/performance.md, memory composition).
    const from = parseNameAddr(v);
    cache.fromRaw = v;
    return cache.from = from;
  }

  get to(): NameAddr {
    const v = this.#first("to");
    if (!v) throw new SipParseError("Missing To");
    const cache = this.#parsed;
    if (v === cache.toRaw) return cache.to!;
    const to = parseNameAddrShared(v);
    cache.toRaw = v;
    return cache.to = to;
  }

  get vias(): Via[] {
    // One line with one value (a request from a UA): the list is the top Via.
    let lines = 0;
    let only: string | undefined;
    for (const h of this.headers) {
      if (h.key !== "via") continue;
      if (++lines > 1) break;
      only = h.value;
    }
    if (lines === 1 && only && only.indexOf(",") < 0) return [this.topVia];
    const cache = this.#parsed;
    if (!this.#sameLines("via", cache.viasRaw)) {
      const raw = this.#lines("via");
      cache.vias = this.getAll("via").map((v) => parseVia(v));
      cache.viasRaw = raw;
    }
    return cache.vias!.slice();
  }

  get topVia(): Via {
    const line = this.#first("via");
    if (line) {
      const cache = this.#parsed;
      if (line === cache.topViaRaw) return cache.topVia!;
      if (line === cache.viaLine && line.indexOf(",") < 0) {
        // Scanned in the decoded head, a flat string: the line is a slice of it, slower to scan.
        const via = parseVia(cache.head, cache.viaFrom, cache.viaFrom + line.length);
        cache.topViaRaw = line;
        return cache.topVia = via;
      }
      const first = line.indexOf(",") < 0
        ? line
        : splitTopLevel(line, ",").find((v) => v.trim())?.trim();
      if (first) {
        const via = parseVia(first);
        cache.topViaRaw = line;
        return cache.topVia = via;
      }
    }
    // An empty first line: the top value is on a later one (rare, not memoized).
    const top = this.getAll("via")[0];
    if (!top) throw new SipParseError("Missing Via");
    return parseVia(top);
  }

  /**
   * For the parser: `head` is the decoded head it cut the header values from; `via` (or
   * undefined) is the first Via line's value, at head[viaFrom, ...), and `credentials` the
   * first Authorization or Proxy-Authorization value, at head[credentialsFrom, ...).
   */
  noteLines(
    head: string,
    via: string | undefined,
    viaFrom: number,
    credentials: string | undefined,
    credentialsFrom: number,
  ): void {
    const cache = this.#parsed;
    cache.head = head;
    cache.viaLine = via;
    cache.viaFrom = viaFrom;
    cache.credentialsLine = credentials;
    cache.credentialsFrom = credentialsFrom;
  }

  /**
   * Where `value`, a header value of this message, starts in `parsedHead` when it reads as
   * a line the parser noted (see `noteLines`), else -1. A value scanned there is read from
   * a flat string instead of its slice, which is slower to scan.
   */
  locate(value: string): number {
    const cache = this.#cache;
    if (cache === undefined) return -1;
    if (value === cache.credentialsLine) return cache.credentialsFrom;
    if (value === cache.viaLine) return cache.viaFrom;
    return -1;
  }

  /** The decoded head `locate` positions are in ("" when the parser noted none). */
  get parsedHead(): string {
    return this.#cache?.head ?? "";
  }

  /**
   * Rewrites `header`, a Via line holding one value, to `via` and keeps `via` as the parse
   * of the new line: the transport's received/rport stamp (RFC 3261 §18.2.1) is then not
   * parsed again by the transaction layer, sanity check and core that read the top Via.
   * Writes `header` in place: only for a line this message made (parsed or just added),
   * never one a clone or response shares.
   */
  replaceTopVia(header: Header, via: Via, formatted = formatVia(via)): void {
    header.value = formatted;
    if (header === this.headers.find((h) => h.key === "via")) {
      const cache = this.#parsed;
      cache.topViaRaw = formatted;
      cache.topVia = via;
    }
  }

  /** Copy of the Contact values' parses (see `contactList`). */
  get contacts(): NameAddr[] {
    return this.contactList.slice();
  }

  /** The Contact values' parses, kept for this message: read them, never write the list. */
  get contactList(): readonly NameAddr[] {
    const cache = this.#parsed;
    if (!this.#sameLines("contact", cache.contactsRaw)) {
      const raw = this.#lines("contact");
      // One line holding one value (a UA's REGISTER): no list to split.
      cache.contacts = raw.length === 1 && raw[0].indexOf(",") < 0
        ? [parseNameAddrShared(raw[0])]
        : this.getAll("contact").map(parseNameAddrShared);
      cache.contactsRaw = raw;
    }
    return cache.contacts!;
  }

  get maxForwards(): number | undefined {
    const v = this.#first("max-forwards");
    if (v === undefined) return undefined;
    // Leading zeros are legal ("0068", RFC 4475 §3.1.1.1).
    const hops = digitsValue(v, 0, v.length) ?? (/^\s*\d{1,10}\s*$/.test(v) ? Number(v) : -1);
    if (hops < 0) throw new SipParseError("Bad Max-Forwards", v);
    // Max-Forwards = 1*DIGIT with a range of 0-255 (§20.22, RFC 4475 §3.1.2.4).
    if (hops > 255) throw new SipParseError("Bad Max-Forwards", v);
    return hops;
  }

  get bodyText(): string {
    return decoder.decode(this.body);
  }

  set bodyText(text: string) {
    this.body = encoder.encode(text);
  }

  protected abstract startLine(): string;

  /**
   * Serializes with a Content-Length that matches the body. The result may be a view into
   * a buffer shared with other messages: read it, send it, never write into it.
   */
  toBytes(): Uint8Array {
    // Two concatenations a line (its "\r\nName: " and its value), not four: each is a
    // cons string to allocate and then flatten.
    let head = this.startLine();
    for (const h of this.headers) {
      if (h.key !== "content-length") head = head + linePrefix(h.name) + h.value;
    }
    const length = this.body.length;
    head += length === 0 ? EMPTY_BODY_END : `\r\nContent-Length: ${length}\r\n\r\n`;
    return wire(head, this.body);
  }

  toString(): string {
    return decoder.decode(this.toBytes());
  }

  /**
   * The copy shares the header objects (as `createResponse` does): nothing writes a
   * header object in place once its message is handed to a TU, each change to a copy
   * puts a new object in its own list (see `replaceTopVia` for the one in-place write).
   */
  protected copyInto<T extends SipMessageBase>(target: T): T {
    target.headers = this.headers.slice();
    target.body = this.body;
    return target;
  }
}

/** The value of text[from, to) when it is 1 to 10 ASCII digits, else undefined. */
export function digitsValue(text: string, from: number, to: number): number | undefined {
  if (to <= from || to - from > 10) return undefined;
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  return n;
}

const CSEQ = /^\s*(\d{1,10})\s+([A-Za-z0-9\-.!%*_+`'~]+)\s*$/;

/**
 * CSeq = 1*DIGIT LWS Method (§20.16), seq below 2^31. The usual "<digits> <METHOD>" is
 * read by hand; any other spelling goes through the full pattern. Undefined when bad.
 */
function parseCSeq(v: string): CSeq | undefined {
  const sp = v.indexOf(" ");
  let seq: number | undefined;
  let method: string | undefined;
  if (sp > 0 && v.charCodeAt(sp + 1) !== 32 && isToken(method = v.slice(sp + 1))) {
    seq = digitsValue(v, 0, sp);
  }
  if (seq === undefined) {
    const m = CSEQ.exec(v);
    if (!m) return undefined;
    seq = Number(m[1]);
    method = m[2];
  }
  if (seq > 2 ** 31 - 1) return undefined;
  return { seq, method: method! };
}

export class SipRequest extends SipMessageBase {
  readonly isRequest = true as const;
  method: string;
  uri: string;
  constructor(method: string, uri: string) {
    super();
    this.method = method;
    this.uri = uri;
  }
  protected startLine(): string {
    return `${this.method} ${this.uri} SIP/2.0`;
  }
  clone(): SipRequest {
    return this.copyInto(new SipRequest(this.method, this.uri));
  }
}

/** Status code → its last status line, so a response's is not built again each time. */
const STATUS_LINES: ({ reason: string; line: string } | undefined)[] = new Array(700).fill(
  undefined,
);

export class SipResponse extends SipMessageBase {
  readonly isRequest = false as const;
  status: number;
  reason: string;
  constructor(status: number, reason = reasonPhrase(status)) {
    super();
    this.status = status;
    this.reason = reason;
  }
  protected startLine(): string {
    const status = this.status;
    const known = STATUS_LINES[status];
    if (known !== undefined && known.reason === this.reason) return known.line;
    const line = `SIP/2.0 ${status} ${this.reason}`;
    // One per status code (the last reason seen with it): a bounded table.
    if (status >= 100 && status <= 699 && Number.isInteger(status)) {
      STATUS_LINES[status] = { reason: this.reason, line };
    }
    return line;
  }
  clone(): SipResponse {
    return this.copyInto(new SipResponse(this.status, this.reason));
  }
}

export type SipMessage = SipRequest | SipResponse;

/**
 * Builds a response to `request` per RFC 3261 §8.2.6: copies Via (all values, in order),
 * From, Call-ID, CSeq and To, adding a To tag when `toTag` is given and To has none.
 */
export function createResponse(
  request: SipRequest,
  status: number,
  reason?: string,
  toTag?: string,
): SipResponse {
  const res = new SipResponse(status, reason ?? reasonPhrase(status));
  const headers = res.headers;
  // The request's own header objects where the value is the same: nothing writes a header
  // object in place once its message has been handed to a TU (see `copyInto`).
  for (const h of request.headers) {
    const key = h.key;
    if (key === "via" || key === "from" || key === "call-id" || key === "cseq") {
      headers.push(h);
    } else if (key === "to") {
      if (toTag && status > 100 && !hasTag(h.value)) {
        headers.push({ key, name: h.name, value: h.value + ";tag=" + toTag });
      } else headers.push(h);
    }
  }
  return res;
}
