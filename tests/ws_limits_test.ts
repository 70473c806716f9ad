/**
 * @module WebSocket limits on a real WS listener with raw clients: the message size limit
 * (dropped, connection kept), the fragment limit (1009), the handshake timeout (silent peer
 * dropped), and the send timeout: a client that reads nothing while sipws answers it piles up
 * a visible `queued` count in `GET /ws`, then is dropped with a `ws.closed` (1006, "send
 * timeout", by server) instead of being buffered without bound.
 */
import assert from "node:assert/strict";
import { createApiApp } from "../src/api/app.ts";
import type { WsClosed } from "../src/events.ts";
import { RawWsClient } from "./support/raw_ws.ts";
import { countersOf, startTestServer } from "./support/test_server.ts";
import { until } from "./support/jssip_page.ts";

const TEXT = 0x1;
const CONTINUATION = 0x0;

function options(callId: string, pad = 0): string {
  return [
    "OPTIONS sip:127.0.0.1 SIP/2.0",
    `Via: SIP/2.0/WS abc.invalid;branch=z9hG4bK${callId}${pad ? `;pad=${"p".repeat(pad)}` : ""}`,
    "Max-Forwards: 70",
    "From: <sip:probe@example.test>;tag=l1",
    "To: <sip:127.0.0.1>",
    `Call-ID: ${callId}`,
    "CSeq: 1 OPTIONS",
    "Content-Length: 0",
    "",
    "",
  ].join("\r\n");
}

/** The SIP text of the next server text frame that is not a CRLF keep-alive. */
async function nextSip(client: RawWsClient): Promise<string | undefined> {
  for (;;) {
    const frame = await client.readFrame();
    if (!frame) return undefined;
    const text = new TextDecoder().decode(frame.payload);
    if (frame.opcode === TEXT && text.trim() !== "") return text;
    if (frame.opcode === 0x8) return undefined;
  }
}

Deno.test("message size and fragment limits; handshake timeout", async () => {
  await using ts = await startTestServer({
    transports: ["ws"],
    configure: (c) => {
      c.websocket.maxMessageSize = 2048;
      c.websocket.maxFragments = 3;
      c.websocket.handshakeTimeout = 1;
    },
  });
  const port = ts.port("ws");
  const client = await RawWsClient.connect(port);
  try {
    // Too large: dropped unanswered and counted; the connection stays and still answers.
    await client.sendFrame(TEXT, options("big", 3000));
    await client.sendFrame(TEXT, options("small"));
    const answer = await nextSip(client);
    assert.match(answer ?? "", /^SIP\/2\.0 200[^]*Call-ID: small/);
    assert.equal(
      (await countersOf(ts)).total("sip_dropped_total", { reason: "Message Too Large" }),
      1,
    );

    // Three frames make one message: answered.
    const text = options("frag3");
    const third = Math.floor(text.length / 3);
    await client.sendFrame(TEXT, text.slice(0, third), true, false);
    await client.sendFrame(CONTINUATION, text.slice(third, 2 * third), true, false);
    await client.sendFrame(CONTINUATION, text.slice(2 * third));
    assert.match((await nextSip(client)) ?? "", /Call-ID: frag3/);
  } finally {
    client.close();
  }

  // Four frames: over the limit, closed with 1009.
  const over = await RawWsClient.connect(port);
  try {
    const text = options("frag4");
    const q = Math.floor(text.length / 4);
    await over.sendFrame(TEXT, text.slice(0, q), true, false);
    await over.sendFrame(CONTINUATION, text.slice(q, 2 * q), true, false);
    await over.sendFrame(CONTINUATION, text.slice(2 * q, 3 * q), true, false);
    await over.sendFrame(CONTINUATION, text.slice(3 * q));
    assert.equal(await over.closeCode(), 1009);
  } finally {
    over.close();
  }

  // A peer that connects and says nothing is dropped after the handshake timeout.
  const silent = await RawWsClient.open(port);
  try {
    const started = Date.now();
    assert.equal(await silent.ended(), true);
    const waited = Date.now() - started;
    assert.ok(waited >= 900 && waited < 5000, `dropped after ${waited} ms`);
  } finally {
    silent.close();
  }
});

Deno.test("a client that reads nothing is dropped after send_timeout; queue visible", async () => {
  await using ts = await startTestServer({
    transports: ["ws"],
    configure: (c) => {
      c.keys = ["k"];
      c.websocket.sendTimeout = 500;
      c.websocket.pingInterval = 0;
      // 400 requests at once from one address is this test's load, not abuse.
      c.abuse.trusted = ["127.0.0.1/32"];
    },
  });
  const closed: WsClosed[] = [];
  ts.server.events.on("ws.closed", (e) => closed.push(e.closed));
  const client = await RawWsClient.connect(ts.port("ws"));
  const app = createApiApp(ts.server);
  try {
    // Each OPTIONS carries a 60 KB Via that its 200 copies: 400 of them are 24 MB of
    // answers, far more than the socket buffers hold while the client reads nothing.
    let maxQueued = 0;
    // Sampled apart from the sends (which a loaded machine slows): the queue stands for
    // send_timeout before the drop, so a sample every few ms sees it.
    let sampling = true;
    const sampler = (async () => {
      while (sampling && closed.length === 0) {
        const rows = (await (await app.request("/ws", {
          headers: { authorization: "Bearer k" },
        })).json()).connections as { queued: number }[];
        maxQueued = Math.max(maxQueued, rows[0]?.queued ?? 0);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    for (let i = 0; i < 400 && closed.length === 0; i++) {
      // Once sipws has dropped us, our own writes fail: that ends the loop too.
      const sent = await client.sendFrame(TEXT, options(`slow${i}`, 60_000)).then(
        () => true,
        () => false,
      );
      if (!sent) break;
    }
    const event = await until("ws.closed", () => closed[0], 10_000).finally(() => {
      sampling = false;
      return sampler;
    });
    assert.equal(event.by, "server");
    assert.equal(event.reason, "send timeout");
    assert.equal(event.code, 1006);
    assert.ok(maxQueued > 0, "GET /ws showed the bytes waiting for the slow reader");
    assert.equal(ts.server.transport.connections().length, 0);
    assert.ok(
      (await countersOf(ts)).total("sip_dropped_total", { reason: "WebSocket send timeout" }) >= 1,
    );
  } finally {
    client.close();
  }
});
