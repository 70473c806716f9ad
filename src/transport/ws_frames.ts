/**
 * @module WebSocket framing (RFC 6455 §5) on the server side: an incremental decoder for
 * client frames that enforces what the RFC makes mandatory (every client frame masked,
 * no reserved bits or opcodes, control frames short and unfragmented, continuation only
 * inside a message) and reassembles fragmented messages, and an encoder for the server's
 * unmasked frames. A protocol violation is reported with the close code to send; the
 * decoder does no I/O.
 */
import { copyToSlab } from "../sip/slab.ts";

export const OPCODE = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

/** Close codes used here (RFC 6455 §7.4.1). */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  tooBig: 1009,
} as const;

export type WsEvent =
  /** A whole data message; `tooLarge` when it exceeded the limit (its bytes were not kept). */
  | { kind: "message"; bytes: Uint8Array; tooLarge: boolean }
  | { kind: "ping"; payload: Uint8Array }
  | { kind: "pong" }
  | { kind: "close"; code?: number; reason: string }
  /** The peer broke the protocol: close with `code`, read nothing more. */
  | { kind: "violation"; code: number; reason: string };

/** Nothing kept between reads (shared: never written). */
const EMPTY = new Uint8Array(0);

/** Longest control-frame payload (RFC 6455 §5.5). */
const MAX_CONTROL_PAYLOAD = 125;

export class WsFrameDecoder {
  #maxMessage: number;
  #pending: Uint8Array = EMPTY;
  /** Fragments of the data message in progress; undefined when none is. */
  #fragments: Uint8Array[] | undefined;
  #fragmentBytes = 0;
  /** The message in progress is over the limit: its bytes are skipped, not kept. */
  #tooLarge = false;
  /** Payload bytes of the current over-limit frame still to skip, and whether it ends one. */
  #skip = 0;
  #skipFin = false;
  #failed = false;
  #maxFragments: number;
  /** Frames of the data message in progress. */
  #frames = 0;
  /** Frames come from a client (masked, RFC 6455 §5.1) or, in WS client mode, a server. */
  #fromClient: boolean;

  /**
   * `maxMessage`: largest data message kept, bytes; larger ones are skipped whole.
   * `maxFragments`: most frames per message (0: no limit); more is a 1009 violation.
   */
  constructor(maxMessage: number, maxFragments = 0, from: "client" | "server" = "client") {
    this.#maxMessage = maxMessage;
    this.#maxFragments = maxFragments;
    this.#fromClient = from === "client";
  }

  /** Feeds bytes read from the socket; returns the events of every complete frame. */
  push(chunk: Uint8Array): WsEvent[] {
    if (this.#failed) return [];
    const data = this.#pending.length === 0 ? chunk : concat([this.#pending, chunk]);
    const events: WsEvent[] = [];
    let at = 0;
    while (!this.#failed) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, data.length - at);
        at += n;
        this.#skip -= n;
        if (this.#skip > 0) break;
        if (this.#skipFin) this.#finish(events);
        continue;
      }
      const frame = readHeader(data, at, this.#fromClient);
      if (frame === undefined) break;
      if ("violation" in frame) {
        this.#fail(events, frame.violation);
        break;
      }
      const isData = frame.opcode < 0x8;
      if (isData) {
        const violation = this.#sequenceViolation(frame.opcode);
        if (violation) {
          this.#fail(events, violation);
          break;
        }
        this.#frames = frame.opcode === OPCODE.continuation ? this.#frames + 1 : 1;
        if (this.#maxFragments > 0 && this.#frames > this.#maxFragments) {
          this.#fail(events, `more than ${this.#maxFragments} frames in one message`, CLOSE.tooBig);
          break;
        }
      }
      const size = isData && frame.opcode !== OPCODE.continuation ? 0 : this.#fragmentBytes;
      if (isData && size + frame.length > this.#maxMessage) {
        // Never buffered: a peer announcing a huge frame must not make us hold it.
        this.#begin(frame.opcode);
        this.#tooLarge = true;
        this.#fragments = [];
        this.#fragmentBytes += frame.length;
        this.#skip = frame.length;
        this.#skipFin = frame.fin;
        at = frame.start;
        if (this.#skip === 0 && frame.fin) this.#finish(events);
        continue;
      }
      const end = frame.start + frame.length;
      if (data.length < end) break;
      at = end;
      if (isData) this.#begin(frame.opcode);
      const payload = unmask(data.subarray(frame.start, end), frame.mask);
      this.#onFrame(frame, payload, events);
    }
    // Copied, so the caller's read buffer can be reused.
    this.#pending = this.#failed || at === data.length ? EMPTY : data.slice(at);
    return events;
  }

  #fail(events: WsEvent[], reason: string, code: number = CLOSE.protocolError): void {
    this.#failed = true;
    events.push({ kind: "violation", code, reason });
  }

  /** Why a data frame with `opcode` cannot come now, if it cannot (RFC 6455 §5.4). */
  #sequenceViolation(opcode: number): string | undefined {
    if (opcode === OPCODE.continuation) {
      return this.#fragments ? undefined : "continuation frame outside a message";
    }
    return this.#fragments ? "new message inside a fragmented one" : undefined;
  }

  /** A data frame is taken: a text or binary frame starts a new message. */
  #begin(opcode: number): void {
    if (opcode === OPCODE.continuation) return;
    this.#fragments = [];
    this.#fragmentBytes = 0;
    this.#tooLarge = false;
  }

  #onFrame(frame: Header, payload: Uint8Array, events: WsEvent[]): void {
    switch (frame.opcode) {
      case OPCODE.ping:
        events.push({ kind: "ping", payload });
        return;
      case OPCODE.pong:
        events.push({ kind: "pong" });
        return;
      case OPCODE.close: {
        if (payload.length === 1) return this.#fail(events, "close frame with a 1-byte payload");
        const code = payload.length >= 2 ? (payload[0] << 8) | payload[1] : undefined;
        const reason = new TextDecoder().decode(payload.subarray(2));
        events.push({ kind: "close", code, reason });
        return;
      }
    }
    this.#fragmentBytes += payload.length;
    if (!this.#tooLarge) this.#fragments!.push(payload);
    if (frame.fin) this.#finish(events);
  }

  /** The last frame of a data message is in. */
  #finish(events: WsEvent[]): void {
    const parts = this.#fragments ?? [];
    const tooLarge = this.#tooLarge;
    this.#fragments = undefined;
    this.#tooLarge = false;
    events.push({
      kind: "message",
      bytes: tooLarge ? new Uint8Array(0) : parts.length === 1 ? parts[0] : concat(parts),
      tooLarge,
    });
  }
}

interface Header {
  fin: boolean;
  opcode: number;
  /** Undefined for a server's (unmasked) frame. */
  mask?: Uint8Array;
  /** Offset of the payload in the buffer the header was read from, and its length. */
  start: number;
  length: number;
}

/** The frame header at `at`, undefined when it is not all there yet, or the rule it breaks. */
function readHeader(
  data: Uint8Array,
  at: number,
  masked: boolean,
): Header | { violation: string } | undefined {
  if (data.length - at < 2) return undefined;
  const b0 = data[at];
  const b1 = data[at + 1];
  const fin = (b0 & 0x80) !== 0;
  const opcode = b0 & 0x0f;
  if ((b0 & 0x70) !== 0) return { violation: "reserved bits set (no extension was negotiated)" };
  if (![0x0, 0x1, 0x2, 0x8, 0x9, 0xa].includes(opcode)) {
    return { violation: `reserved opcode ${opcode}` };
  }
  // RFC 6455 §5.1: a server MUST close the connection on an unmasked client frame.
  if (masked && (b1 & 0x80) === 0) return { violation: "unmasked client frame" };
  // §5.1: a client closes the connection on a masked frame from the server.
  if (!masked && (b1 & 0x80) !== 0) return { violation: "masked server frame" };
  let length = b1 & 0x7f;
  let header = 2;
  if (opcode >= 0x8 && (length > MAX_CONTROL_PAYLOAD || !fin)) {
    return { violation: "control frame too long or fragmented" };
  }
  if (length === 126) {
    if (data.length - at < 4) return undefined;
    length = (data[at + 2] << 8) | data[at + 3];
    header = 4;
  } else if (length === 127) {
    if (data.length - at < 10) return undefined;
    const view = new DataView(data.buffer, data.byteOffset + at + 2, 8);
    const high = view.getUint32(0);
    if (high >= 0x80000000) return { violation: "frame length with the top bit set" };
    length = high * 2 ** 32 + view.getUint32(4);
    header = 10;
  }
  if (!masked) {
    if (data.length - at < header) return undefined;
    return { fin, opcode, start: at + header, length };
  }
  if (data.length - at < header + 4) return undefined;
  return {
    fin,
    opcode,
    mask: data.subarray(at + header, at + header + 4),
    start: at + header + 4,
    length,
  };
}

/**
 * A payload copied out of the read buffer into a shared slab (as stream frames are: no
 * ArrayBuffer of its own per message) and unmasked there, a 32-bit word at a time.
 */
function unmask(payload: Uint8Array, mask: Uint8Array | undefined): Uint8Array {
  const out = copyToSlab(payload);
  if (!mask) return out;
  const n = out.length;
  let i = 0;
  if ((out.byteOffset & 3) === 0) {
    const words = wordsOf(out.buffer as ArrayBuffer);
    const key = LITTLE_ENDIAN
      ? mask[0] | (mask[1] << 8) | (mask[2] << 16) | (mask[3] << 24)
      : (mask[0] << 24) | (mask[1] << 16) | (mask[2] << 8) | mask[3];
    const first = out.byteOffset >> 2;
    const end = first + (n >> 2);
    for (let w = first; w < end; w++) words[w] ^= key;
    i = n & ~3;
  }
  for (; i < n; i++) out[i] ^= mask[i & 3];
  return out;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/** The last buffer unmasked into, as 32-bit words (a slab takes hundreds of messages). */
let wordsBuffer: ArrayBuffer | undefined;
let words = new Int32Array(0);

function wordsOf(buffer: ArrayBuffer): Int32Array {
  if (buffer !== wordsBuffer) {
    wordsBuffer = buffer;
    words = new Int32Array(buffer, 0, buffer.byteLength >> 2);
  }
  return words;
}

function concat(parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * One unfragmented frame: a server's is never masked, a client's always is (RFC 6455
 * §5.1, `masked` in WS client mode, with a fresh random key).
 */
export function encodeFrame(opcode: number, payload: Uint8Array, masked = false): Uint8Array {
  const n = payload.length;
  const head = frameHead(opcode, n);
  const length = head.length;
  const header = length + (masked ? 4 : 0);
  const out = new Uint8Array(header + n);
  out.set(head, 0);
  if (!masked) {
    out.set(payload, header);
    return out;
  }
  out[1] |= 0x80;
  const mask = crypto.getRandomValues(new Uint8Array(4));
  out.set(mask, length);
  for (let i = 0; i < n; i++) out[header + i] = payload[i] ^ mask[i & 3];
  return out;
}

/** Reused by `frameHead`: its caller copies the header before the next frame. */
const HEAD = new Uint8Array(10);
const HEAD_VIEW = new DataView(HEAD.buffer);
const HEAD_SHORT = HEAD.subarray(0, 2);
const HEAD_MEDIUM = HEAD.subarray(0, 4);

/**
 * The header of an unmasked, unfragmented frame carrying `n` payload bytes: a view of one
 * shared buffer, valid until the next call (the write queue copies it at once).
 */
export function frameHead(opcode: number, n: number): Uint8Array {
  HEAD[0] = 0x80 | opcode;
  if (n < 126) {
    HEAD[1] = n;
    return HEAD_SHORT;
  }
  if (n < 65536) {
    HEAD[1] = 126;
    HEAD[2] = n >> 8;
    HEAD[3] = n & 0xff;
    return HEAD_MEDIUM;
  }
  HEAD[1] = 127;
  HEAD_VIEW.setUint32(2, Math.floor(n / 2 ** 32));
  HEAD_VIEW.setUint32(6, n >>> 0);
  return HEAD;
}

/** A close frame with `code` and a short UTF-8 reason (≤ 123 bytes). */
export function encodeClose(code: number, reason: string, masked = false): Uint8Array {
  const text = new TextEncoder().encode(reason).subarray(0, MAX_CONTROL_PAYLOAD - 2);
  const payload = new Uint8Array(2 + text.length);
  payload[0] = code >> 8;
  payload[1] = code & 0xff;
  payload.set(text, 2);
  return encodeFrame(OPCODE.close, payload, masked);
}
