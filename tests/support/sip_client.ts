/**
 * @module A minimal SIP user agent for integration tests: sends raw SIP over UDP, TCP,
 * TLS, WS or WSS to a loopback server, collects what comes back, and performs the digest
 * REGISTER dance (challenge → credentials) the way a phone does. Not a product component.
 */
import {
  computeDigestResponse,
  formatDigestCredentials,
  parseDigest,
} from "../../src/sip/digest.ts";
import { digestAlgorithmOf } from "../../src/sip/digest.ts";
import { computeHa1 } from "../../src/sip/digest_hash.ts";
import type { SipMessage, SipResponse } from "../../src/sip/message.ts";
import { parseMessage } from "../../src/sip/parse.ts";
import { StreamFramer } from "../../src/sip/framer.ts";
import { testCaCert } from "./certs.ts";

export type ClientTransport = "udp" | "tcp" | "tls" | "ws" | "wss";

const encoder = new TextEncoder();

export class TestSipClient {
  readonly transport: ClientTransport;
  localPort = 0;
  /** Our address as it goes into Via and Contact ("[::1]" for IPv6). */
  localHost = "127.0.0.1";
  #received: SipMessage[] = [];
  #waiters: { match: (m: SipMessage) => boolean; resolve: (m: SipMessage) => void }[] = [];
  #send!: (bytes: Uint8Array) => Promise<void>;
  #close!: () => void;
  closed: Promise<void> = Promise.resolve();
  /** Raw frames/datagrams that did not parse (e.g. CRLF pongs). */
  raw: Uint8Array[] = [];

  private constructor(transport: ClientTransport) {
    this.transport = transport;
  }

  /**
   * `bind` picks the local UDP address (any 127/8 address works on Linux), so one test can
   * play clients at several source addresses; stream transports always use the default.
   */
  static async connect(
    transport: ClientTransport,
    port: number,
    host = "127.0.0.1",
    bind?: string,
  ): Promise<TestSipClient> {
    const client = new TestSipClient(transport);
    await client.#open(port, host, bind);
    return client;
  }

  async #open(port: number, host: string, bind?: string): Promise<void> {
    if (host.includes(":")) this.localHost = "[::1]";
    if (this.transport === "udp") {
      const local = bind ?? (host.includes(":") ? "::1" : "127.0.0.1");
      if (bind) this.localHost = bind.includes(":") ? `[${bind}]` : bind;
      const socket = Deno.listenDatagram({ transport: "udp", hostname: local, port: 0 });
      this.localPort = (socket.addr as Deno.NetAddr).port;
      this.#send = async (b) => {
        await socket.send(b, { transport: "udp", hostname: host, port });
      };
      this.#close = () => socket.close();
      this.closed = (async () => {
        try {
          for (;;) {
            const [bytes] = await socket.receive();
            this.#accept(bytes);
          }
        } catch { /* closed */ }
      })();
    } else if (this.transport === "tcp" || this.transport === "tls") {
      const conn = this.transport === "tls"
        ? await Deno.connectTls({ hostname: host, port, caCerts: [await testCaCert()] })
        : await Deno.connect({ hostname: host, port });
      this.localPort = (conn.localAddr as Deno.NetAddr).port;
      this.#send = async (b) => {
        let off = 0;
        while (off < b.length) off += await conn.write(b.subarray(off));
      };
      this.#close = () => {
        try {
          conn.close();
        } catch { /* closed */ }
      };
      const framer = new StreamFramer(1 << 20);
      this.closed = (async () => {
        const buf = new Uint8Array(65536);
        try {
          for (;;) {
            const n = await conn.read(buf);
            if (n === null) break;
            for (const f of framer.push(buf.slice(0, n))) {
              if (f.kind === "message") this.#accept(f.bytes);
              else this.raw.push(encoder.encode(f.kind === "ping" ? "\r\n\r\n" : "\r\n"));
            }
          }
        } catch { /* closed */ }
      })();
    } else {
      const scheme = this.transport;
      const authority = host.includes(":") ? `[${host}]` : host;
      const url = `${scheme}://${authority}:${port}`;
      const ws = scheme === "wss"
        // Deno's WebSocket takes an HTTP client, which trusts the test certificate.
        ? new WebSocket(url, {
          protocols: ["sip"],
          client: Deno.createHttpClient({ caCerts: [await testCaCert()] }),
        })
        : new WebSocket(url, "sip");
      ws.binaryType = "arraybuffer";
      await new Promise<void>((resolve, reject) => {
        ws.onopen = () => resolve();
        ws.onerror = (e) => reject(new Error(`websocket failed: ${(e as ErrorEvent).message}`));
      });
      this.#send = (b) => {
        ws.send(new TextDecoder().decode(b));
        return Promise.resolve();
      };
      this.#close = () => ws.close();
      this.closed = new Promise((resolve) => {
        ws.onclose = () => resolve();
      });
      ws.onmessage = (e) => {
        const bytes = typeof e.data === "string" ? encoder.encode(e.data) : new Uint8Array(e.data);
        this.#accept(bytes);
      };
    }
  }

  #accept(bytes: Uint8Array): void {
    let message: SipMessage;
    try {
      message = parseMessage(bytes);
    } catch {
      this.raw.push(bytes);
      return;
    }
    const at = this.#waiters.findIndex((w) => w.match(message));
    if (at >= 0) this.#waiters.splice(at, 1)[0].resolve(message);
    else this.#received.push(message);
  }

  send(message: string | Uint8Array): Promise<void> {
    return this.#send(typeof message === "string" ? encoder.encode(message) : message);
  }

  /** Next received message matching `match` (already received ones first). */
  wait(match: (m: SipMessage) => boolean, timeoutMs = 3000): Promise<SipMessage> {
    const at = this.#received.findIndex(match);
    if (at >= 0) return Promise.resolve(this.#received.splice(at, 1)[0]);
    // Made here, so a timeout's stack names the test line that waited.
    const timeout = new Error(`no matching SIP message within ${timeoutMs} ms`);
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (m: SipMessage) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        const others = this.#received.map((m) =>
          `${m.isRequest ? m.method : m.status} (CSeq ${m.cseq.seq} ${m.cseq.method}, ${m.callId})`
        );
        timeout.message += `; unmatched: ${others.join(", ") || "none"}`;
        reject(timeout);
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Next final response to the given CSeq number and Call-ID. */
  async response(callId: string, cseq: number, timeoutMs = 3000): Promise<SipResponse> {
    const m = await this.wait(
      (m) => !m.isRequest && m.status >= 200 && m.callId === callId && m.cseq.seq === cseq,
      timeoutMs,
    );
    return m as SipResponse;
  }

  close(): void {
    this.#close();
  }

  /** Via transport token and sent-by for requests from this client. */
  get via(): string {
    const t = this.transport.toUpperCase();
    return this.transport === "ws" || this.transport === "wss"
      ? `SIP/2.0/${t} abc123.invalid`
      : `SIP/2.0/${t} ${this.localHost}:${this.localPort}`;
  }

  /** Contact URI this client would register. */
  get contactUri(): string {
    return this.transport === "ws" || this.transport === "wss"
      ? "sip:xyz@abc123.invalid;transport=ws"
      : `sip:u@${this.localHost}:${this.localPort}${
        this.transport === "udp" ? "" : `;transport=${this.transport}`
      }`;
  }
}

export interface RegisterOptions {
  user: string;
  domain: string;
  password: string;
  expires?: number;
  contact?: string;
  contactParams?: string;
  callId?: string;
  extraHeaders?: string[];
  /** Request-URI host; defaults to the domain. */
  registrar?: string;
}

let cseqCounter = 1;

/** An out-of-dialog OPTIONS to the server (CSeq 1), which answers it 200 itself. */
export function optionsRequest(client: TestSipClient, callId: string): string {
  return [
    `OPTIONS sip:127.0.0.1 SIP/2.0`,
    `Via: ${client.via};branch=z9hG4bK${crypto.randomUUID().slice(0, 12)};rport`,
    `Max-Forwards: 70`,
    `From: <sip:probe@127.0.0.1>;tag=f${callId}`,
    `To: <sip:127.0.0.1>`,
    `Call-ID: ${callId}`,
    `CSeq: 1 OPTIONS`,
    `Content-Length: 0`,
    "",
    "",
  ].join("\r\n");
}

export function registerRequest(
  client: TestSipClient,
  o: RegisterOptions,
  cseq: number,
  authorization?: string,
): string {
  const callId = o.callId ?? "reg-" + crypto.randomUUID();
  const lines = [
    `REGISTER sip:${o.registrar ?? o.domain} SIP/2.0`,
    `Via: ${client.via};branch=z9hG4bK${crypto.randomUUID().slice(0, 12)};rport`,
    `Max-Forwards: 70`,
    `From: <sip:${o.user}@${o.domain}>;tag=${crypto.randomUUID().slice(0, 8)}`,
    `To: <sip:${o.user}@${o.domain}>`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} REGISTER`,
    o.contact === "*"
      ? "Contact: *"
      : `Contact: <${o.contact ?? client.contactUri}>${o.contactParams ?? ""}`,
    ...(o.expires !== undefined ? [`Expires: ${o.expires}`] : []),
    ...(authorization ? [`Authorization: ${authorization}`] : []),
    ...(o.extraHeaders ?? []),
    `Content-Length: 0`,
    "",
    "",
  ];
  return lines.join("\r\n");
}

/**
 * The Authorization value a simple phone sends for REGISTER after a 401: MD5 over the
 * `WWW-Authenticate` value `challenge`, a fixed cnonce, `qop=auth` only when offered.
 */
export function md5RegisterAuthorization(
  challenge: string,
  o: { user: string; password: string; uri: string; cnonce: string },
): string {
  const c = parseDigest(challenge);
  if (!c) throw new Error(`no digest challenge: ${challenge}`);
  const digest = computeDigestResponse({
    algorithm: "MD5",
    ha1: computeHa1("MD5", o.user, c.realm, o.password),
    nonce: c.nonce,
    method: "REGISTER",
    uri: o.uri,
    qop: c.qop ? "auth" : undefined,
    nc: "00000001",
    cnonce: o.cnonce,
  });
  return `Digest username="${o.user}", realm="${c.realm}", nonce="${c.nonce}", uri="${o.uri}", response="${digest}", algorithm=MD5` +
    (c.qop ? `, qop=auth, nc=00000001, cnonce="${o.cnonce}"` : "") +
    (c.opaque ? `, opaque="${c.opaque}"` : "");
}

/** Answers a 401/407 challenge for `method` with the given password (nonce-count `nc`, 1 by default). */
export function answerChallenge(
  challenge: SipResponse,
  o: { user: string; password: string; method: string; uri: string; nc?: number },
): string {
  const header = challenge.status === 407 ? "proxy-authenticate" : "www-authenticate";
  const params = parseDigest(challenge.getAll(header)[0]);
  if (!params) throw new Error("no digest challenge");
  const algorithm = digestAlgorithmOf(params.algorithm) ?? "MD5";
  const ha1 = computeHa1(algorithm, o.user, params.realm, o.password);
  const cnonce = crypto.randomUUID().slice(0, 8);
  const nc = (o.nc ?? 1).toString(16).padStart(8, "0");
  const response = computeDigestResponse({
    algorithm,
    ha1,
    nonce: params.nonce,
    method: o.method,
    uri: o.uri,
    qop: "auth",
    nc,
    cnonce,
  });
  return formatDigestCredentials({
    username: o.user,
    realm: params.realm,
    nonce: params.nonce,
    uri: o.uri,
    response,
    algorithm,
    opaque: params.opaque,
    qop: "auth",
    nc,
    cnonce,
  });
}

/**
 * REGISTER → 401 → REGISTER with credentials; returns the final response. Throws when an
 * answer does not come within `timeoutMs`.
 */
export async function register(
  client: TestSipClient,
  o: RegisterOptions,
  timeoutMs = 3000,
): Promise<SipResponse> {
  const callId = o.callId ?? "reg-" + crypto.randomUUID();
  const opts = { ...o, callId };
  const first = cseqCounter++;
  await client.send(registerRequest(client, opts, first));
  const challenge = await client.response(callId, first, timeoutMs);
  if (challenge.status !== 401) return challenge;
  const uri = `sip:${o.registrar ?? o.domain}`;
  const auth = answerChallenge(challenge, {
    user: o.user,
    password: o.password,
    method: "REGISTER",
    uri,
  });
  const second = cseqCounter++;
  await client.send(registerRequest(client, opts, second, auth));
  return await client.response(callId, second, timeoutMs);
}

/** `register`'s final status, or undefined when the server stays silent (a ban drops). */
export async function registerStatus(
  client: TestSipClient,
  o: RegisterOptions,
  timeoutMs: number,
): Promise<number | undefined> {
  try {
    return (await register(client, o, timeoutMs)).status;
  } catch {
    return undefined;
  }
}

/**
 * Registers `contact` (say, a sipp phone's address) for `account` through a throwaway UDP
 * client of the server on 127.0.0.1:`udpPort`; throws unless the answer is 200.
 */
export async function registerContact(
  udpPort: number,
  account: Pick<RegisterOptions, "user" | "domain" | "password">,
  contact: string,
): Promise<void> {
  const client = await TestSipClient.connect("udp", udpPort);
  try {
    const ok = await register(client, { ...account, expires: 600, contact });
    if (ok.status !== 200) throw new Error(`REGISTER ${contact}: ${ok.status}, expected 200`);
  } finally {
    client.close();
  }
}
