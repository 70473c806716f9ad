/**
 * @module The WebSocket opening handshake (RFC 6455 §4.2) for SIP over WebSocket (RFC 7118):
 * reading the HTTP request head with a size limit (431 once it is passed, without reading
 * the rest), checking the upgrade and the `sip` subprotocol, then the admission policy
 * (ws_policy.ts: Origin, Host, admin switch, CORS), and building the HTTP answers. Reads from a connection but writes nothing;
 * the transport sends what `answer` returns.
 */

import type { Admission } from "./ws_policy.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const READ_CHUNK = 4096;

export interface RequestHead {
  method: string;
  target: string;
  version: string;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Map<string, string>;
}

export type HeadRead =
  | { kind: "head"; head: RequestHead | undefined; rest: Uint8Array }
  /** The head passed `limit` bytes without ending. */
  | { kind: "too-large" }
  /** The peer closed (or the read failed) before the head ended. */
  | { kind: "eof" };

/** Reads up to the blank line that ends the head; never more than `limit` bytes of it. */
export function readRequestHead(conn: Deno.Conn, limit: number): Promise<HeadRead> {
  return readHead(conn, limit, parseHead);
}

/** The head of the server's answer to our upgrade request (WS client mode). */
export interface ResponseHead {
  status: number;
  /** Lower-case names. */
  headers: Map<string, string>;
}

/** Reads the server's answer to an upgrade request, as `readRequestHead` reads requests. */
export function readResponseHead(
  conn: Deno.Conn,
  limit: number,
): Promise<
  { kind: "head"; head: ResponseHead | undefined; rest: Uint8Array } | {
    kind: "too-large" | "eof";
  }
> {
  return readHead(conn, limit, (text) => {
    const [start, ...lines] = text.split("\r\n");
    const m = /^HTTP\/1\.1 (\d{3})(?: .*)?$/.exec(start);
    const headers = headerMap(lines);
    return m && headers ? { status: Number(m[1]), headers } : undefined;
  });
}

async function readHead<T>(
  conn: Deno.Conn,
  limit: number,
  parse: (text: string) => T | undefined,
): Promise<
  { kind: "head"; head: T | undefined; rest: Uint8Array } | { kind: "too-large" | "eof" }
> {
  let buffered = new Uint8Array(0);
  const chunk = new Uint8Array(READ_CHUNK);
  for (;;) {
    let n: number | null;
    try {
      n = await conn.read(chunk);
    } catch {
      return { kind: "eof" };
    }
    if (n === null) return { kind: "eof" };
    const searchFrom = Math.max(0, buffered.length - 3);
    const next = new Uint8Array(buffered.length + n);
    next.set(buffered);
    next.set(chunk.subarray(0, n), buffered.length);
    buffered = next;
    const end = indexOfBlankLine(buffered, searchFrom);
    if (end >= 0 && end + 4 <= limit) {
      return {
        kind: "head",
        head: parse(decoder.decode(buffered.subarray(0, end))),
        rest: buffered.slice(end + 4),
      };
    }
    if (end >= 0 || buffered.length > limit) return { kind: "too-large" };
  }
}

function indexOfBlankLine(bytes: Uint8Array, from: number): number {
  for (let i = from; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}

function parseHead(text: string): RequestHead | undefined {
  const [start, ...lines] = text.split("\r\n");
  const [method, target, version, extra] = start.split(" ");
  if (!method || !target || !version?.startsWith("HTTP/") || extra !== undefined) return undefined;
  const headers = headerMap(lines);
  return headers && { method, target, version, headers };
}

/** Header lines → lower-case names, repeated ones joined; undefined when one is malformed. */
function headerMap(lines: string[]): Map<string, string> | undefined {
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const before = headers.get(name);
    headers.set(name, before === undefined ? value : `${before}, ${value}`);
  }
  return headers;
}

export type HandshakeAnswer =
  /** `headers`: extra headers for the 101 (CORS). */
  | { accept: true; key: string; origin?: string; headers: Record<string, string> }
  | { accept: false; status: number; reason: string; body: string; headers?: string[] };

/** Whether to upgrade `head`; `admit` is the policy that has the last word. */
export function answer(
  head: RequestHead | undefined,
  admit: (headers: Headers) => Admission,
): HandshakeAnswer {
  const refuse = (status: number, reason: string, body: string, headers?: string[]) => ({
    accept: false as const,
    status,
    reason,
    body,
    headers,
  });
  if (!head) return refuse(400, "Bad Request", "malformed HTTP request\n");
  const h = head.headers;
  if (!hasToken(h.get("upgrade"), "websocket") || !hasToken(h.get("connection"), "upgrade")) {
    return refuse(426, "Upgrade Required", "SIP over WebSocket endpoint: upgrade required\n", [
      "Upgrade: websocket",
      "Sec-WebSocket-Protocol: sip",
    ]);
  }
  if (head.method !== "GET" || head.version !== "HTTP/1.1") {
    return refuse(400, "Bad Request", "a WebSocket upgrade is GET over HTTP/1.1\n");
  }
  if (h.get("sec-websocket-version") !== "13") {
    return refuse(426, "Upgrade Required", "WebSocket version 13 is required\n", [
      "Sec-WebSocket-Version: 13",
    ]);
  }
  const key = h.get("sec-websocket-key") ?? "";
  if (!isNonce(key)) return refuse(400, "Bad Request", "bad Sec-WebSocket-Key\n");
  if (!hasToken(h.get("sec-websocket-protocol"), "sip")) {
    return refuse(400, "Bad Request", "the 'sip' WebSocket subprotocol is required (RFC 7118)\n");
  }
  const admitted = admit(new Headers([...h]));
  if (!admitted.ok) {
    const reason = admitted.status === 503 ? "Service Unavailable" : "Forbidden";
    return refuse(admitted.status, reason, admitted.text);
  }
  return { accept: true, key, origin: h.get("origin"), headers: admitted.headers };
}

/** A comma-separated header value contains `token` (case-insensitive). */
function hasToken(value: string | undefined, token: string): boolean {
  return (value ?? "").split(",").some((t) => t.trim().toLowerCase() === token);
}

/** RFC 6455 §4.1: the key is 16 random bytes, base64-encoded. */
function isNonce(key: string): boolean {
  try {
    return atob(key).length === 16;
  } catch {
    return false;
  }
}

/** RFC 6455 §4.2.2: `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`. */
export async function acceptValue(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", encoder.encode(key + GUID));
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

/** The 101 that completes the handshake, echoing the `sip` subprotocol. */
export async function switchingProtocols(
  key: string,
  headers: Record<string, string>,
): Promise<Uint8Array> {
  const accept = await acceptValue(key);
  return encoder.encode(
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      `Sec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: sip\r\n` +
      Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("") + "\r\n",
  );
}

/** A refusal; the connection is closed after it. */
export function refusal(status: number, reason: string, body = "", headers: string[] = []) {
  return encoder.encode(
    [
      `HTTP/1.1 ${status} ${reason}`,
      "Connection: close",
      "Content-Type: text/plain; charset=utf-8",
      `Content-Length: ${encoder.encode(body).length}`,
      ...headers,
      "",
      body,
    ].join("\r\n"),
  );
}
