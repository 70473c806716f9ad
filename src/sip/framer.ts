/**
 * @module Stream framing for TCP/TLS (RFC 3261 §18.3): cuts a byte stream into whole
 * messages by Content-Length, turns CRLF keep-alives into ping/pong frames (RFC 5626
 * §4.4.1) and enforces a size cap. Works on bytes only (no decoding, no header parsing
 * beyond Content-Length) and resumes its search where the last read stopped, so a message
 * arriving in many small reads costs linear time. While nothing is buffered, whole messages
 * are framed straight out of the chunk read (one copy each, into the slab) and only an
 * incomplete tail is kept. Pure: the transport feeds bytes in and
 * acts on what comes out; after it throws, the stream is broken and the flow must close.
 */
import { SipParseError } from "./errors.ts";
import { nextLf, wordsOf } from "./scan.ts";
import { copyToSlab } from "./slab.ts";

export type Frame =
  | { kind: "message"; bytes: Uint8Array }
  /** A double-CRLF ping: the sender expects a single CRLF pong. */
  | { kind: "ping" }
  /** A single CRLF pong (answer to our ping). */
  | { kind: "pong" };

/** Default cap: a 64 KiB body plus a generous head (DESIGN: accept ≥ 64 KB messages). */
export const DEFAULT_MAX_MESSAGE_SIZE = 65536 + 16384;

export class StreamFramer {
  /** What is kept between pushes: the tail of a message not yet whole. */
  #buf: Uint8Array = new Uint8Array(4096);
  /** What is being framed: `#buf`, or during `push` the caller's chunk while nothing was kept. */
  #src: Uint8Array = this.#buf;
  /** `#src` read a word at a time. */
  #words = wordsOf(this.#buf);
  #start = 0;
  #end = 0;
  /** Head bytes of the message at #start already scanned (offset from #start). */
  #scanned = 0;
  /** Start of the head line being scanned (offset from #start). */
  #line = 0;
  /** Content-Length read so far from the head being scanned, else -1. */
  #length = -1;
  /** Total length of the message at #start once its head has been read, else -1. */
  #need = -1;
  #maxMessageSize: number;

  constructor(maxMessageSize = DEFAULT_MAX_MESSAGE_SIZE) {
    this.#maxMessageSize = maxMessageSize;
  }

  /** Appends bytes and returns every complete frame; throws when framing is broken. */
  push(chunk: Uint8Array): Frame[] {
    if (this.#start === this.#end) {
      // Nothing kept: frame the chunk where it lies (it is only read during this call).
      this.#src = chunk;
      this.#words = wordsOf(chunk);
      this.#start = 0;
      this.#end = chunk.length;
    } else this.#append(chunk);
    const frames: Frame[] = [];
    for (;;) {
      const frame = this.#next();
      if (!frame) break;
      frames.push(frame);
    }
    if (this.#src !== this.#buf) this.#keepTail();
    if (this.#start === this.#end) this.#start = this.#end = 0;
    return frames;
  }

  /** Bytes buffered and not yet framed. */
  get pending(): number {
    return this.#end - this.#start;
  }

  /** Copies what is left of the lent chunk (an incomplete message) into our own buffer. */
  #keepTail(): void {
    const rest = this.#end - this.#start;
    if (rest > this.#buf.length) {
      let size = this.#buf.length;
      while (size < rest) size *= 2;
      this.#buf = new Uint8Array(size);
    }
    if (rest > 0) this.#buf.set(this.#src.subarray(this.#start, this.#end), 0);
    this.#start = 0;
    this.#end = rest;
    this.#src = this.#buf;
    this.#words = wordsOf(this.#buf);
  }

  #append(chunk: Uint8Array): void {
    if (this.#end + chunk.length > this.#buf.length) {
      const used = this.#end - this.#start;
      let size = this.#buf.length;
      while (size < used + chunk.length) size *= 2;
      if (size === this.#buf.length) this.#buf.copyWithin(0, this.#start, this.#end);
      else {
        const next = new Uint8Array(size);
        next.set(this.#buf.subarray(this.#start, this.#end), 0);
        this.#buf = this.#src = next;
        this.#words = wordsOf(next);
      }
      this.#start = 0;
      this.#end = used;
    }
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  #next(): Frame | undefined {
    const buf = this.#src;
    const start = this.#start;
    const end = this.#end;
    if (start === end) return undefined;
    if (this.#need < 0) {
      if (this.#scanned === 0) {
        const b0 = buf[start];
        if (b0 === 13 || b0 === 10) return this.#keepAlive();
      }
      const headLength = this.#scanHead(buf, start, end);
      if (headLength < 0) {
        if (end - start > this.#maxMessageSize) throw new SipParseError("Message Too Large");
        return undefined;
      }
      this.#need = headLength + this.#length;
      if (this.#need > this.#maxMessageSize) throw new SipParseError("Message Too Large");
    }
    if (end - start < this.#need) return undefined;
    // Copied out: the buffer (ours or the read's) will be overwritten.
    const bytes = copyToSlab(buf.subarray(start, start + this.#need));
    this.#cut(start + this.#need);
    return { kind: "message", bytes };
  }

  /**
   * One pass over the head from where the last read stopped, line by line: reads
   * Content-Length from its line and returns the head's length once the blank line ending
   * it is in (bare LF accepted), else -1. Missing, malformed or conflicting Content-Length
   * values break the framing: nothing after them can be trusted.
   */
  #scanHead(buf: Uint8Array, start: number, end: number): number {
    let line = start + this.#line;
    const words = this.#words;
    for (let i = start + this.#scanned; i < end; i++) {
      i = nextLf(buf, words, i, end);
      if (i >= end) break;
      // The line [line, i) is whole.
      const first = buf[line];
      if (line === i || (first === 13 && line + 1 === i)) {
        if (this.#length < 0) throw new SipParseError("Missing Content-Length");
        return i + 1 - start;
      }
      if (line !== start && ((first | 0x20) === 0x63 || (first | 0x20) === 0x6c)) {
        const n = contentLength(buf, line, i);
        if (n >= 0) {
          if (this.#length >= 0 && this.#length !== n) {
            throw new SipParseError("Bad Content-Length", "conflicting values");
          }
          this.#length = n;
        }
      }
      line = i + 1;
    }
    this.#scanned = end - start;
    this.#line = line - start;
    return -1;
  }

  /** The next frame starts at `at`. */
  #cut(at: number): void {
    this.#start = at;
    this.#scanned = this.#line = 0;
    this.#length = this.#need = -1;
  }

  /** Leading CR/LF between messages: CRLFCRLF is a ping, a lone CRLF (or LF) a pong. */
  #keepAlive(): Frame | undefined {
    const buf = this.#src;
    const start = this.#start;
    const avail = this.#end - start;
    const ping = [13, 10, 13, 10];
    let prefix = 0;
    while (prefix < avail && prefix < 4 && buf[start + prefix] === ping[prefix]) prefix++;
    if (prefix === 4) {
      this.#cut(start + 4);
      return { kind: "ping" };
    }
    // All we have could still become a ping: wait for more bytes.
    if (prefix === avail) return undefined;
    this.#cut(start + (buf[start] === 13 && buf[start + 1] === 10 ? 2 : 1));
    return { kind: "pong" };
  }
}

const CONTENT_LENGTH = "content-length";

/**
 * The Content-Length value of the head line [line, eol) (LF at eol), or -1 when the line is
 * another header; throws when the value is malformed.
 */
function contentLength(buf: Uint8Array, line: number, eol: number): number {
  let i = headerValueStart(buf, line, eol);
  if (i < 0) return -1;
  while (i < eol && (buf[i] === 32 || buf[i] === 9)) i++;
  let n = 0;
  let digits = 0;
  while (i < eol && buf[i] >= 48 && buf[i] <= 57) {
    n = n * 10 + buf[i] - 48;
    digits++;
    i++;
  }
  while (i < eol && (buf[i] === 32 || buf[i] === 9 || buf[i] === 13)) i++;
  if (digits === 0 || digits > 10 || i !== eol) throw new SipParseError("Bad Content-Length");
  return n;
}

/** Index after the colon when the line [from, eol) is a Content-Length header, else -1. */
function headerValueStart(buf: Uint8Array, from: number, eol: number): number {
  let i = from;
  const c0 = buf[i] | 0x20;
  if (c0 === 0x63) {
    // "content-length", any case.
    if (eol - from < CONTENT_LENGTH.length) return -1;
    for (let k = 0; k < CONTENT_LENGTH.length; k++) {
      if ((buf[i + k] | 0x20) !== CONTENT_LENGTH.charCodeAt(k)) return -1;
    }
    i += CONTENT_LENGTH.length;
  } else if (c0 === 0x6c) i++; // compact "l"
  else return -1;
  while (i < eol && (buf[i] === 32 || buf[i] === 9)) i++;
  return i < eol && buf[i] === 58 ? i + 1 : -1;
}
