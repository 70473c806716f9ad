/**
 * @module The doctor's own SIP client: one link per transport (UDP, TCP, TLS, WS, WSS) that
 * sends request text and waits, bounded, for the final response with the same Call-ID, plus
 * the OPTIONS and digest REGISTER requests it sends. TLS and WSS trust the configured
 * certificate file besides the system roots, so a self-signed certificate can be probed.
 * It never resolves names: sipws is reached on the address it listens on.
 */
import { computeHa1, type DigestAlgorithm } from "../sip/digest_hash.ts";
import {
  computeDigestResponse,
  digestAlgorithmOf,
  formatDigestCredentials,
  parseDigest,
} from "../sip/digest.ts";
import { StreamFramer } from "../sip/framer.ts";
import type { SipMessage, SipResponse } from "../sip/message.ts";
import { parseMessage } from "../sip/parse.ts";

export type Transport = "udp" | "tcp" | "tls" | "ws" | "wss";

export interface SipLink {
  /** Our sent-by for Via (`.invalid` on WebSocket, as browsers do). */
  readonly via: string;
  /** Sends `text`; resolves with the final response to `callId`, or rejects after `ms`. */
  request(text: string, callId: string, ms?: number): Promise<SipResponse>;
  close(): void;
}

const encoder = new TextEncoder();

/** Final responses by Call-ID; provisional ones and requests (pings) are ignored. */
function inbox() {
  const waiting = new Map<string, (r: SipResponse) => void>();
  return {
    accept(bytes: Uint8Array) {
      let m: SipMessage;
      try {
        m = parseMessage(bytes);
      } catch {
        return; // keep-alives
      }
      if (!m.isRequest && m.status >= 200) waiting.get(m.callId)?.(m);
    },
    wait(callId: string, ms: number): Promise<SipResponse> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(callId);
          reject(new Error(`no answer within ${ms} ms`));
        }, ms);
        waiting.set(callId, (r) => {
          clearTimeout(timer);
          waiting.delete(callId);
          resolve(r);
        });
      });
    },
  };
}

/** Opens a link to sipws at host:port; `caCert` is the configured certificate (TLS, WSS). */
export async function openLink(
  transport: Transport,
  host: string,
  port: number,
  caCert?: string,
  origin?: string,
): Promise<SipLink> {
  const box = inbox();
  const caCerts = caCert ? [caCert] : undefined;
  if (transport === "udp") {
    const socket = Deno.listenDatagram({ transport: "udp", hostname: host, port: 0 });
    const local = socket.addr as Deno.NetAddr;
    (async () => {
      try {
        for (;;) box.accept((await socket.receive())[0]);
      } catch { /* closed */ }
    })();
    return {
      via: `SIP/2.0/UDP ${hostPort(local.hostname, local.port)}`,
      async request(text, callId, ms = 3000) {
        const answer = box.wait(callId, ms);
        await socket.send(encoder.encode(text), { transport: "udp", hostname: host, port });
        return await answer;
      },
      close: () => socket.close(),
    };
  }
  if (transport === "tcp" || transport === "tls") {
    const conn = transport === "tls"
      ? await Deno.connectTls({ hostname: host, port, caCerts })
      : await Deno.connect({ hostname: host, port });
    if (transport === "tls") await (conn as Deno.TlsConn).handshake();
    const local = conn.localAddr as Deno.NetAddr;
    void readSipStream(conn, (bytes) => box.accept(bytes));
    return {
      via: `SIP/2.0/${transport.toUpperCase()} ${hostPort(local.hostname, local.port)}`,
      async request(text, callId, ms = 3000) {
        const answer = box.wait(callId, ms);
        const bytes = encoder.encode(text);
        let off = 0;
        while (off < bytes.length) off += await conn.write(bytes.subarray(off));
        return await answer;
      },
      close() {
        try {
          conn.close();
        } catch { /* closed */ }
      },
    };
  }
  const client = caCerts ? Deno.createHttpClient({ caCerts }) : undefined;
  const ws = new WebSocket(`${transport}://${hostPort(host, port)}`, {
    protocols: ["sip"],
    ...(client ? { client } : {}),
    ...(origin ? { headers: { origin } } : {}),
  } as unknown as string[]);
  ws.binaryType = "arraybuffer";
  try {
    await webSocketOpened(ws);
  } catch (error) {
    client?.close();
    throw error;
  }
  if (ws.protocol !== "sip") {
    ws.close();
    client?.close();
    throw new Error(`the server chose subprotocol "${ws.protocol}", not "sip"`);
  }
  ws.onmessage = (e) =>
    box.accept(typeof e.data === "string" ? encoder.encode(e.data) : new Uint8Array(e.data));
  return {
    via: `SIP/2.0/${transport.toUpperCase()} ${crypto.randomUUID().slice(0, 8)}.invalid`,
    request(text, callId, ms = 3000) {
      const answer = box.wait(callId, ms);
      ws.send(text);
      return answer;
    },
    close() {
      ws.close();
      client?.close();
    },
  };
}

/** Hands each SIP message read from `conn` to `accept` until the connection ends. */
export async function readSipStream(
  conn: Deno.Conn,
  accept: (bytes: Uint8Array) => void,
): Promise<void> {
  const framer = new StreamFramer(1 << 20);
  const buf = new Uint8Array(65536);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      for (const f of framer.push(buf.slice(0, n))) if (f.kind === "message") accept(f.bytes);
    }
  } catch { /* closed */ }
}

/** Resolves when `ws` opens; rejects when it fails or has not opened within `ms`. */
export function webSocketOpened(ws: WebSocket, ms = 5000): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`WebSocket did not open in ${ms / 1000} s`)),
      ms,
    );
    ws.onopen = () => {
      clearTimeout(timer);
      resolve();
    };
    ws.onerror = (e) => {
      clearTimeout(timer);
      reject(new Error((e as ErrorEvent).message || "WebSocket failed"));
    };
  });
}

function hostPort(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

function branch(): string {
  return `z9hG4bK${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
}

/** An OPTIONS to sipws itself; returns its text and Call-ID. */
export function optionsRequest(link: SipLink, host: string, port: number) {
  const callId = `doctor-${crypto.randomUUID()}`;
  const text = [
    `OPTIONS sip:${hostPort(host, port)} SIP/2.0`,
    `Via: ${link.via};branch=${branch()};rport`,
    "Max-Forwards: 70",
    `From: <sip:doctor@${hostPort(host, port)}>;tag=${crypto.randomUUID().slice(0, 8)}`,
    `To: <sip:${hostPort(host, port)}>`,
    `Call-ID: ${callId}`,
    "CSeq: 1 OPTIONS",
    "User-Agent: sipws-doctor",
    "Content-Length: 0",
    "",
    "",
  ].join("\r\n");
  return { text, callId };
}

/**
 * REGISTER user@domain with digest auth (the first challenge), `expires` seconds; returns
 * the final response (200 when the account and password are right).
 */
export async function register(
  link: SipLink,
  o: { user: string; domain: string; password: string; expires: number },
): Promise<SipResponse> {
  const callId = `doctor-${crypto.randomUUID()}`;
  const contact = `<sip:${o.user}@${link.via.split(" ")[1]};transport=${
    link.via.split("/")[2].split(" ")[0].toLowerCase()
  }>`;
  const request = (cseq: number, authorization?: string) =>
    [
      `REGISTER sip:${o.domain} SIP/2.0`,
      `Via: ${link.via};branch=${branch()};rport`,
      "Max-Forwards: 70",
      `From: <sip:${o.user}@${o.domain}>;tag=${crypto.randomUUID().slice(0, 8)}`,
      `To: <sip:${o.user}@${o.domain}>`,
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} REGISTER`,
      `Contact: ${contact};expires=${o.expires}`,
      "User-Agent: sipws-doctor",
      ...(authorization ? [`Authorization: ${authorization}`] : []),
      "Content-Length: 0",
      "",
      "",
    ].join("\r\n");
  const first = await link.request(request(1), callId);
  if (first.status !== 401) return first;
  const challenge = parseDigest(first.getAll("www-authenticate")[0] ?? "");
  const algorithm: DigestAlgorithm | undefined = digestAlgorithmOf(challenge?.algorithm);
  if (!challenge || !algorithm) return first;
  const uri = `sip:${o.domain}`;
  const cnonce = crypto.randomUUID().slice(0, 8);
  const qop = challenge.qop ? "auth" as const : undefined;
  const response = computeDigestResponse({
    algorithm,
    ha1: computeHa1(algorithm, o.user, challenge.realm, o.password),
    nonce: challenge.nonce,
    method: "REGISTER",
    uri,
    qop,
    nc: "00000001",
    cnonce,
  });
  return await link.request(
    request(
      2,
      formatDigestCredentials({
        username: o.user,
        realm: challenge.realm,
        nonce: challenge.nonce,
        uri,
        response,
        algorithm,
        opaque: challenge.opaque,
        qop,
        nc: "00000001",
        cnonce,
      }),
    ),
    callId,
  );
}
