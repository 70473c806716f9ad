/**
 * @module Stream framing for TCP/TLS (RFC 3261 §18.3): cuts a byte stream into whole
 * messages by Content-Length, turns CRLF keep-alives into ping/pong frames (RFC 5626
 * §4.4.1) and enforces a size cap. Works on bytes only (no decoding, no header parsing
 * beyond Content-Length) and resumes its search where the last read stopped, so a message
 * arriving in many small reads costs linear time. Pure: the transport feeds bytes in and
 * acts on what comes out; after it throws, the stream is broken and the flow must close.
 */
import { SipParseError } from "./errors.ts";
import { findHeadEnd } from "./parse.ts";
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
  #buf: Uint8Array = new Uint8Array(4096);
  #start = 0;
  #end = 0;
  /** Where the search for the end of the head resumes (absolute index in #buf). */
  #scan = 0;
  /** Total length of the message at #start once its head has been read, else -1. */
  #need = -1;
  #maxMessageSize: number;

  constructor(maxMessageSize = DEFAULT_MAX_MESSAGE_SIZE) {
    this.#maxMessageSize = maxMessageSize;
  }

  /** Appends bytes and returns every complete frame; throws when framing is broken. */
  push(chunk: Uint8Array): Frame[] {
    this.#append(chunk);
    const frames: Frame[] = [];
    for (;;) {
      const frame = this.#next();
      if (!frame) break;
      frames.push(frame);
    }
    if (this.#start === this.#end) this.#start = this.#end = this.#scan = 0;
    return frames;
  }

  /** Bytes buffered and not yet framed. */
  get pending(): number {
    return this.#end - this.#start;
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
        this.#buf = next;
      }
      this.#scan = Math.max(0, this.#scan - this.#start);
      this.#start = 0;
      this.#end = used;
    }
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  #next(): Frame | undefined {
    const buf = this.#buf;
    const start = this.#start;
    const end = this.#end;
    if (start === end) return undefined;
    if (this.#need < 0) {
      const b0 = buf[start];
      if (b0 === 13 || b0 === 10) return this.#keepAlive();
      const headEnd = findHeadEnd(buf, Math.max(start, this.#scan - 3), end);
      if (headEnd < 0) {
        this.#scan = end;
        if (end - start > this.#maxMessageSize) throw new SipParseError("Message Too Large");
        return undefined;
      }
      const length = contentLength(buf, start, headEnd);
      this.#need = headEnd - start + length;
      if (this.#need > this.#maxMessageSize) throw new SipParseError("Message Too Large");
    }
    if (end - start < this.#need) return undefined;
    // Copied out: the buffer is the connection's and will be overwritten.
    const bytes = copyToSlab(buf.subarray(start, start + this.#need));
    this.#start = this.#scan = start + this.#need;
    this.#need = -1;
    return { kind: "message", bytes };
  }

  /** Leading CR/LF between messages: CRLFCRLF is a ping, a lone CRLF (or LF) a pong. */
  #keepAlive(): Frame | undefined {
    const buf = this.#buf;
    const start = this.#start;
    const avail = this.#end - start;
    const ping = [13, 10, 13, 10];
    let prefix = 0;
    while (prefix < avail && prefix < 4 && buf[start + prefix] === ping[prefix]) prefix++;
    if (prefix === 4) {
      this.#start = this.#scan = start + 4;
      return { kind: "ping" };
    }
    // All we have could still become a ping: wait for more bytes.
    if (prefix === avail) return undefined;
    const used = buf[start] === 13 && buf[start + 1] === 10 ? 2 : 1;
    this.#start = this.#scan = start + used;
    return { kind: "pong" };
  }
}

const CONTENT_LENGTH = "content-length";

/**
 * Reads Content-Length (or compact `l`) from the head bytes [start, headEnd). Missing,
 * malformed or conflicting values break the framing: nothing after them can be trusted.
 */
function contentLength(buf: Uint8Array, start: number, headEnd: number): number {
  let found = -1;
  // Skip the start line.
  let line = buf.indexOf(10, start) + 1;
  while (line > 0 && line < headEnd) {
    const eol = buf.indexOf(10, line);
    const value = headerValueStart(buf, line, eol);
    if (value >= 0) {
      let i = value;
      while (i < eol && (buf[i] === 32 || buf[i] === 9)) i++;
      let n = 0;
      let digits = 0;
      while (i < eol && buf[i] >= 48 && buf[i] <= 57) {
        n = n * 10 + buf[i] - 48;
        digits++;
        i++;
      }
      while (i < eol && (buf[i] === 32 || buf[i] === 9 || buf[i] === 13)) i++;
      if (digits === 0 || digits > 10 || i !== eol) {
        throw new SipParseError("Bad Content-Length");
      }
      if (found >= 0 && found !== n) {
        throw new SipParseError("Bad Content-Length", "conflicting values");
      }
      found = n;
    }
    line = eol + 1;
  }
  if (found < 0) throw new SipParseError("Missing Content-Length");
  return found;
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
