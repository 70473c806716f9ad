/**
 * @module Hand-driven SIP links over TLS and secure WebSocket for certificate tests: each
 * trusts only the CA it is given (so a handshake proves which certificate the server shows),
 * `presentedFingerprint` asks `openssl s_client`, `optionsStatus` checks a link still carries
 * SIP, `replaceFile` swaps a file atomically as an operator's `mv` would.
 */
import assert from "node:assert/strict";
import type { SipResponse } from "../../src/sip/message.ts";
import { parseMessage } from "../../src/sip/parse.ts";
import { readSipStream, webSocketOpened } from "../../src/cli/doctor_sip.ts";
import { certFingerprint } from "./certs.ts";
import { runCommand } from "./process.ts";
import { TestSipClient } from "./sip_client.ts";

const encoder = new TextEncoder();
const DOMAIN = "example.test";

/** SHA-256 of the certificate the server presents to a new handshake on `port`. */
export async function presentedFingerprint(port: number): Promise<string> {
  // s_client prints the peer's certificate (PEM) once the handshake is done, then reads EOF.
  const r = await runCommand("openssl", {
    args: ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", "127.0.0.1"],
    timeoutMs: 15_000,
  });
  assert.ok(
    r.stdout.includes("-----BEGIN CERTIFICATE-----"),
    `no certificate from openssl s_client on port ${port} (code ${r.code}${
      r.timedOut ? ", timed out" : ""
    }): ${r.stdout} ${r.stderr}`,
  );
  return await certFingerprint(r.stdout);
}

/** A SIP connection the test drives by hand: send text, await the response to a Call-ID. */
export interface SipLink {
  via: string;
  send(text: string): Promise<void>;
  response(callId: string, timeoutMs?: number): Promise<SipResponse>;
  close(): void;
}

function collector(): {
  accept: (bytes: Uint8Array) => void;
  response: (callId: string, timeoutMs?: number) => Promise<SipResponse>;
} {
  const got: SipResponse[] = [];
  const waiters: { callId: string; resolve: (r: SipResponse) => void }[] = [];
  return {
    accept(bytes) {
      let m;
      try {
        m = parseMessage(bytes);
      } catch {
        return; // keep-alive CRLFs
      }
      if (m.isRequest) return;
      const at = waiters.findIndex((w) => w.callId === m.callId);
      if (at >= 0) waiters.splice(at, 1)[0].resolve(m);
      else got.push(m);
    },
    response(callId, timeoutMs = 5000) {
      const at = got.findIndex((r) => r.callId === callId);
      if (at >= 0) return Promise.resolve(got.splice(at, 1)[0]);
      return new Promise((resolve, reject) => {
        const waiter = {
          callId,
          resolve: (r: SipResponse) => {
            clearTimeout(timer);
            resolve(r);
          },
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`no response to ${callId} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
  };
}

/** SIP over TLS that trusts only `caCert`: the handshake fails on any other certificate. */
export async function openTls(port: number, caCert: string): Promise<SipLink> {
  const conn = await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [caCert] });
  await conn.handshake();
  const local = (conn.localAddr as Deno.NetAddr).port;
  const c = collector();
  void readSipStream(conn, c.accept);
  return {
    via: `SIP/2.0/TLS 127.0.0.1:${local}`,
    async send(text) {
      const b = encoder.encode(text);
      let off = 0;
      while (off < b.length) off += await conn.write(b.subarray(off));
    },
    response: c.response,
    close() {
      try {
        conn.close();
      } catch { /* closed */ }
    },
  };
}

/** SIP over secure WebSocket that trusts only `caCert`. */
export async function openWss(port: number, caCert: string): Promise<SipLink> {
  const client = Deno.createHttpClient({ caCerts: [caCert] });
  const ws = new WebSocket(`wss://127.0.0.1:${port}`, { protocols: ["sip"], client });
  ws.binaryType = "arraybuffer";
  const c = collector();
  try {
    await webSocketOpened(ws);
  } catch (error) {
    client.close();
    throw error;
  }
  ws.onmessage = (e) =>
    c.accept(typeof e.data === "string" ? encoder.encode(e.data) : new Uint8Array(e.data));
  return {
    via: "SIP/2.0/WSS reload.invalid",
    send(text) {
      ws.send(text);
      return Promise.resolve();
    },
    response: c.response,
    close() {
      ws.close();
      client.close();
    },
  };
}

export function options(via: string, callId: string): string {
  return [
    `OPTIONS sip:${DOMAIN} SIP/2.0`,
    `Via: ${via};branch=z9hG4bK${crypto.randomUUID().slice(0, 12)};rport`,
    "Max-Forwards: 70",
    `From: <sip:probe@${DOMAIN}>;tag=${crypto.randomUUID().slice(0, 8)}`,
    `To: <sip:${DOMAIN}>`,
    `Call-ID: ${callId}`,
    "CSeq: 1 OPTIONS",
    "Content-Length: 0",
    "",
    "",
  ].join("\r\n");
}

/** OPTIONS on an existing link; returns the status of the final response. */
export async function optionsStatus(link: SipLink | TestSipClient): Promise<number> {
  const callId = `opt-${crypto.randomUUID()}`;
  await link.send(options(link.via, callId));
  const r = link instanceof TestSipClient
    ? await link.response(callId, 1)
    : await link.response(callId);
  return r.status;
}

/** Replaces `to` with `from`'s content atomically, as an operator's `mv` would. */
export async function replaceFile(from: string, to: string): Promise<void> {
  const tmp = `${to}.new`;
  await Deno.copyFile(from, tmp);
  await Deno.rename(tmp, to);
}
