/**
 * @module Stream framing for TCP/TLS (RFC 3261 §18.3): cuts a byte stream into whole
 * messages by Content-Length, answers CRLF keep-alive pings (RFC 5626 §4.4.1) and enforces
 * a size cap. Pure: the transport feeds bytes in and acts on what comes out.
 */
import { SipParseError } from "./errors.ts";
import { findHeadEnd } from "./parse.ts";

export type Frame =
  | { kind: "message"; bytes: Uint8Array }
  /** A double-CRLF ping: the sender expects a single CRLF pong. */
  | { kind: "ping" }
  /** A single CRLF pong (answer to our ping). */
  | { kind: "pong" };

const CONTENT_LENGTH = /^(?:content-length|l)[ \t]*:[ \t]*(\d+)[ \t]*$/im;
const decoder = new TextDecoder();

export class StreamFramer {
  #buffer: Uint8Array = new Uint8Array(0);
  #maxMessageSize: number;

  constructor(maxMessageSize = 65535) {
    this.#maxMessageSize = maxMessageSize;
  }

  /** Appends bytes and returns every complete frame; throws when framing is broken. */
  push(chunk: Uint8Array): Frame[] {
    this.#buffer = this.#buffer.length === 0 ? chunk : concat(this.#buffer, chunk);
    const frames: Frame[] = [];
    for (;;) {
      const frame = this.#next();
      if (!frame) break;
      frames.push(frame);
    }
    return frames;
  }

  /** Bytes buffered and not yet framed. */
  get pending(): number {
    return this.#buffer.length;
  }

  #next(): Frame | undefined {
    const buf = this.#buffer;
    if (buf.length === 0) return undefined;
    if (buf[0] === 13 || buf[0] === 10) {
      if (buf[0] === 13 && buf[1] === 10 && buf[2] === 13 && buf[3] === 10) {
        this.#buffer = buf.subarray(4);
        return { kind: "ping" };
      }
      if (buf.length < 4 && isCrlfPrefix(buf)) return undefined;
      const crlf = buf[0] === 13 && buf[1] === 10 ? 2 : 1;
      this.#buffer = buf.subarray(crlf);
      return { kind: "pong" };
    }
    const headEnd = findHeadEnd(buf);
    if (headEnd < 0) {
      if (buf.length > this.#maxMessageSize) throw new SipParseError("Message Too Large");
      return undefined;
    }
    const m = CONTENT_LENGTH.exec(decoder.decode(buf.subarray(0, headEnd)));
    if (!m) throw new SipParseError("Missing Content-Length");
    const total = headEnd + Number(m[1]);
    if (total > this.#maxMessageSize) throw new SipParseError("Message Too Large");
    if (buf.length < total) return undefined;
    this.#buffer = buf.subarray(total);
    return { kind: "message", bytes: buf.slice(0, total) };
  }
}

function isCrlfPrefix(buf: Uint8Array): boolean {
  const ping = [13, 10, 13, 10];
  return buf.every((b, i) => b === ping[i]);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
