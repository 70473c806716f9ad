/**
 * The WebSocket keep-alive policy (`[websocket] ping_interval`, `ping_timeout`)
 * with short intervals: a registered client that answers pings (Deno's WebSocket client
 * sends pongs by itself) is held past several intervals with its binding; a registered
 * client that answers nothing (a raw socket that reads but never sends a pong) is closed once
 * interval + timeout have passed, and its binding goes with it.
 */
import assert from "node:assert/strict";
import { startTestServer } from "./support/test_server.ts";
import { md5RegisterAuthorization, register, TestSipClient } from "./support/sip_client.ts";
import { RawWsClient } from "./support/raw_ws.ts";
import { until } from "./support/poll.ts";
import { parseMessage } from "../src/sip/parse.ts";
import type { SipResponse } from "../src/sip/message.ts";

const ALICE = { user: "alice", domain: "example.test", password: "alice-secret-1" };
const BOB = { user: "bob", domain: "example.test", password: "bob-secret-1" };
const INTERVAL_S = 1;
const TIMEOUT_S = 2;

function registerText(cseq: number, authorization?: string): string {
  return [
    `REGISTER sip:${BOB.domain} SIP/2.0`,
    `Via: SIP/2.0/WS abc.invalid;branch=z9hG4bKsilent${cseq}`,
    "Max-Forwards: 70",
    `From: <sip:bob@${BOB.domain}>;tag=s1`,
    `To: <sip:bob@${BOB.domain}>`,
    "Call-ID: silent-register-1",
    `CSeq: ${cseq} REGISTER`,
    "Contact: <sip:bob@silent.invalid;transport=ws>",
    "Expires: 600",
    ...(authorization ? [`Authorization: ${authorization}`] : []),
    "Content-Length: 0",
    "",
    "",
  ].join("\r\n");
}

/** REGISTER with digest over the raw socket; returns the final status. */
async function registerRaw(client: RawWsClient): Promise<number> {
  const next = async () => {
    const frame = await client.readFrame();
    if (!frame) throw new Error("closed while registering");
    return parseMessage(frame.payload) as SipResponse;
  };
  await client.sendFrame(0x1, registerText(1));
  const challenge = await next();
  assert.equal(challenge.status, 401);
  const authorization = md5RegisterAuthorization(challenge.get("www-authenticate")!, {
    ...BOB,
    uri: `sip:${BOB.domain}`,
    cnonce: "c0ffee01",
  });
  await client.sendFrame(0x1, registerText(2, authorization));
  return (await next()).status;
}

Deno.test("websocket keep-alive: an answering client is held, a silent one closed on time", async () => {
  await using ts = await startTestServer({
    transports: ["ws"],
    accounts: [ALICE, BOB],
    configure: (c) => {
      c.websocket.pingInterval = INTERVAL_S;
      c.websocket.pingTimeout = TIMEOUT_S;
    },
  });
  const answering = await TestSipClient.connect("ws", ts.port("ws"));
  const silent = await RawWsClient.connect(ts.port("ws"));
  try {
    assert.equal((await register(answering, { ...ALICE, expires: 600 })).status, 200);
    // The server last hears the silent client between these two instants (its REGISTER).
    const registering = performance.now();
    assert.equal(await registerRaw(silent), 200);
    const started = performance.now();
    let answeringClosed = false;
    answering.closed.then(() => answeringClosed = true);
    // The silent client reads nothing more: pings pile up unanswered until the server closes.
    const code = await silent.closeCode();
    const closedAt = performance.now();
    assert.equal(code, 1001, "closed by the keep-alive policy");
    const deadline = (INTERVAL_S + TIMEOUT_S) * 1000;
    const early = closedAt - registering;
    assert.ok(early >= deadline - 100, `closed ${Math.round(early)} ms after, too early`);
    const late = closedAt - started;
    assert.ok(late < deadline + 2000, `closed ${Math.round(late)} ms after, too late`);
    await until(
      "bob's binding gone with the connection",
      () => ts.server.location.lookup("bob@example.test").length === 0 || undefined,
    );
    // Held past several intervals in all: never dropped while it answers.
    const held = 5 * INTERVAL_S * 1000;
    await new Promise((r) => setTimeout(r, Math.max(0, held - (performance.now() - started))));
    assert.equal(answeringClosed, false, "the answering client was dropped");
    assert.equal(ts.server.location.lookup("alice@example.test").length, 1);
  } finally {
    answering.close();
    silent.close();
  }
});
