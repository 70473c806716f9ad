/**
 * @module A raw WebSocket client over a plain TCP or TLS socket, for tests that need what
 * a well-behaved client library will not do: send unmasked frames, send a huge handshake,
 * or stay silent (never answer a ping). Frames are built and read by hand (RFC 6455 §5.2).
 */
import { testCaCert } from "./certs.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface ServerFrame {
  opcode: number;
  payload: Uint8Array;
}

export class RawWsClient {
  readonly conn: Deno.Conn;
  #buffer = new Uint8Array(0);
  #eof = false;

  private constructor(conn: Deno.Conn) {
    this.conn = conn;
  }

  /** Opens TCP (or TLS for `secure`) to 127.0.0.1:`port`; no handshake yet. */
  static async open(port: number, secure = false): Promise<RawWsClient> {
    const conn = secure
      ? await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [await testCaCert()] })
      : await Deno.connect({ hostname: "127.0.0.1", port });
    return new RawWsClient(conn);
  }

  /** Opens and completes a `sip` handshake; throws unless answered 101. */
  static async connect(port: number, secure = false): Promise<RawWsClient> {
    const client = await RawWsClient.open(port, secure);
    const status = await client.handshake();
    if (!status.startsWith("HTTP/1.1 101")) throw new Error(`handshake refused: ${status}`);
    return client;
  }

  /** Sends an upgrade request (with `extra` header lines) and returns the status line. */
  async handshake(extra: string[] = []): Promise<string> {
    const head = [
      "GET / HTTP/1.1",
      "Host: 127.0.0.1",
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Version: 13",
      "Sec-WebSocket-Protocol: sip",
      ...extra,
      "",
      "",
    ].join("\r\n");
    await this.write(encoder.encode(head));
    const end = await this.#until((b) => indexOf(b, "\r\n\r\n"));
    if (end < 0) return "";
    const response = decoder.decode(this.#buffer.subarray(0, end));
    this.#buffer = this.#buffer.slice(end + 4);
    return response.split("\r\n")[0];
  }

  async write(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.length) off += await this.conn.write(bytes.subarray(off));
  }

  /**
   * One client frame, masked unless `masked` is false (which RFC 6455 forbids); `fin` false
   * leaves the message open for continuation frames (opcode 0).
   */
  sendFrame(
    opcode: number,
    payload: Uint8Array | string,
    masked = true,
    fin = true,
  ): Promise<void> {
    const body = typeof payload === "string" ? encoder.encode(payload) : payload;
    const n = body.length;
    const lengthBytes = n < 126 ? 0 : n < 65536 ? 2 : 8;
    const header = 2 + lengthBytes + (masked ? 4 : 0);
    const out = new Uint8Array(header + n);
    out[0] = (fin ? 0x80 : 0) | opcode;
    const view = new DataView(out.buffer);
    if (n < 126) out[1] = n;
    else if (n < 65536) {
      out[1] = 126;
      view.setUint16(2, n);
    } else {
      out[1] = 127;
      view.setUint32(6, n);
    }
    if (masked) {
      out[1] |= 0x80;
      const mask = crypto.getRandomValues(new Uint8Array(4));
      out.set(mask, 2 + lengthBytes);
      for (let i = 0; i < n; i++) out[header + i] = body[i] ^ mask[i & 3];
    } else out.set(body, header);
    return this.write(out);
  }

  /** The next server frame, or undefined when the connection ended first. */
  async readFrame(): Promise<ServerFrame | undefined> {
    const end = await this.#until((b) => frameEnd(b));
    if (end < 0) return undefined;
    const b = this.#buffer;
    const short = b[1] & 0x7f;
    const start = short < 126 ? 2 : short === 126 ? 4 : 10;
    const frame = { opcode: b[0] & 0x0f, payload: b.slice(start, end) };
    this.#buffer = b.slice(end);
    return frame;
  }

  /** Frames until a close frame; returns its code, or undefined if the socket just ended. */
  async closeCode(): Promise<number | undefined> {
    for (;;) {
      const frame = await this.readFrame();
      if (!frame) return undefined;
      if (frame.opcode === 0x8) return (frame.payload[0] << 8) | frame.payload[1];
    }
  }

  /** Resolves true once the server closed the TCP connection (reads to the end). */
  async ended(): Promise<boolean> {
    await this.#until(() => -1);
    return this.#eof;
  }

  close(): void {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }

  /** Reads until `found` returns an index ≥ 0 (returned), or the end (-1). */
  async #until(found: (b: Uint8Array) => number): Promise<number> {
    const chunk = new Uint8Array(65536);
    for (;;) {
      const at = found(this.#buffer);
      if (at >= 0 || this.#eof) return at;
      let n: number | null = null;
      try {
        n = await this.conn.read(chunk);
      } catch { /* reset */ }
      if (n === null) {
        this.#eof = true;
        continue;
      }
      const next = new Uint8Array(this.#buffer.length + n);
      next.set(this.#buffer);
      next.set(chunk.subarray(0, n), this.#buffer.length);
      this.#buffer = next;
    }
  }
}

function indexOf(bytes: Uint8Array, text: string): number {
  return decoder.decode(bytes).indexOf(text);
}

/** End offset of the first (unmasked server) frame in `b`, or -1 if incomplete. */
function frameEnd(b: Uint8Array): number {
  if (b.length < 2) return -1;
  const short = b[1] & 0x7f;
  const view = new DataView(b.buffer, b.byteOffset);
  let start = 2;
  let length = short;
  if (short === 126) {
    if (b.length < 4) return -1;
    length = view.getUint16(2);
    start = 4;
  } else if (short === 127) {
    if (b.length < 10) return -1;
    length = view.getUint32(6);
    start = 10;
  }
  return b.length >= start + length ? start + length : -1;
}
