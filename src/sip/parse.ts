/**
 * @module Bytes → SipRequest/SipResponse (RFC 3261 §7, §25). Splits the start line and the
 * header lines (unfolding continuations) but leaves header values raw; accessors on the
 * message parse them when read. Throws `SipParseError` naming the reason, nothing else.
 */
import { SipParseError } from "./errors.ts";
import { canonicalName, headerKey } from "./headers.ts";
import { type Header, type SipMessage, SipRequest, SipResponse } from "./message.ts";

const decoder = new TextDecoder();
const TOKEN = /^[A-Za-z0-9\-.!%*_+`'~]+$/;

/** Index just after the blank line ending the head, or -1. Accepts bare LF too. */
export function findHeadEnd(bytes: Uint8Array, from = 0): number {
  for (let i = from; i < bytes.length - 1; i++) {
    if (bytes[i] !== 10) continue;
    if (bytes[i + 1] === 10) return i + 2;
    if (bytes[i + 1] === 13 && bytes[i + 2] === 10) return i + 3;
  }
  return -1;
}

export interface ParseOptions {
  /** Streams need Content-Length (§18.3); datagrams may omit it. */
  stream?: boolean;
}

/** Parses one whole message; for datagrams the body is what follows the head. */
export function parseMessage(bytes: Uint8Array, options: ParseOptions = {}): SipMessage {
  let start = 0;
  // Leading CRLFs are allowed before a message (§7.5).
  while (start < bytes.length && (bytes[start] === 13 || bytes[start] === 10)) start++;
  const headEnd = findHeadEnd(bytes, start);
  if (headEnd < 0) throw new SipParseError("Incomplete message", "no blank line after headers");
  const head = decoder.decode(bytes.subarray(start, headEnd));
  const lines = head.split(/\r?\n/);
  const message = parseStartLine(lines[0]);
  message.headers = parseHeaderLines(lines, 1);

  const lengths = message.headers.filter((h) => h.key === "content-length");
  let length: number | undefined;
  if (lengths.length > 0) {
    const text = lengths[0].value.trim();
    if (!/^\d{1,10}$/.test(text)) throw new SipParseError("Bad Content-Length", text);
    length = Number(text);
    if (lengths.some((h) => h.value.trim() !== text)) {
      throw new SipParseError("Bad Content-Length", "conflicting values");
    }
  } else if (options.stream) throw new SipParseError("Missing Content-Length");
  const available = bytes.length - headEnd;
  if (length === undefined) length = available;
  if (length > available) {
    throw new SipParseError("Bad Content-Length", `says ${length}, body has ${available}`);
  }
  // Extra bytes past Content-Length in a datagram are discarded (§18.3).
  message.body = bytes.slice(headEnd, headEnd + length);
  return message;
}

function parseStartLine(line: string): SipMessage {
  if (line.startsWith("SIP/")) {
    const m = /^SIP\/(\d+\.\d+) (\d{3}) ?(.*)$/.exec(line);
    if (!m) throw new SipParseError("Bad status line", line);
    if (m[1] !== "2.0") throw new SipParseError("Version Not Supported", m[1]);
    const status = Number(m[2]);
    if (status < 100 || status > 699) throw new SipParseError("Bad status code", m[2]);
    return new SipResponse(status, m[3]);
  }
  const parts = line.split(" ");
  if (parts.length !== 3) throw new SipParseError("Bad request line", line);
  const [method, uri, version] = parts;
  if (!TOKEN.test(method)) throw new SipParseError("Bad method", method);
  if (!uri || /[<>"]/.test(uri)) throw new SipParseError("Bad Request-URI", uri);
  if (!/^SIP\/\d+\.\d+$/i.test(version)) throw new SipParseError("Bad request line", line);
  if (version.toUpperCase() !== "SIP/2.0") {
    throw new SipParseError("Version Not Supported", version);
  }
  return new SipRequest(method, uri);
}

function parseHeaderLines(lines: string[], from: number): Header[] {
  const headers: Header[] = [];
  for (let i = from; i < lines.length; i++) {
    const line = lines[i];
    if (line === "") continue;
    if (line[0] === " " || line[0] === "\t") {
      // Folded continuation (§7.3.1): joins the previous header with a single space.
      const last = headers[headers.length - 1];
      if (!last) throw new SipParseError("Bad header folding", line);
      last.value = `${last.value} ${line.trim()}`.trim();
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) throw new SipParseError("Bad header", line);
    const name = line.slice(0, colon).trimEnd();
    if (!TOKEN.test(name)) throw new SipParseError("Bad header name", name);
    const key = headerKey(name);
    headers.push({ key, name: name.length === 1 ? canonicalName(key) : name, value: line.slice(colon + 1).trim() });
  }
  return headers;
}
