/**
 * RFC 7118 handshake rules on the real WS listener: the `sip` subprotocol is required and
 * echoed, other handshakes get a 4xx, an Origin allow-list is enforced, permessage-deflate
 * is never negotiated, and large messages (WebRTC SDP) fit in one frame.
 * Pinned to one SIP worker: the single-thread path (docs/workers.md, "Tests").
 */
import assert from "node:assert/strict";
import { startTestServer } from "./support/test_server.ts";
import { TestSipClient } from "./support/sip_client.ts";
import { handshake } from "./support/ws_handshake.ts";

Deno.test("websocket handshake: sip subprotocol required and echoed, no deflate, origin list", async () => {
  await using ts = await startTestServer({
    workers: 1,
    transports: ["ws"],
    configure: (c) => c.websocket.allowedOrigins = ["https://app.example.test"],
  });
  const port = ts.port("ws");
  const ok = await handshake(port, {
    "Sec-WebSocket-Protocol": "sip",
    "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits",
    Origin: "https://app.example.test",
  });
  assert.match(ok, /^HTTP\/1\.1 101/);
  assert.match(ok, /sec-websocket-protocol: sip/i);
  assert.doesNotMatch(ok, /sec-websocket-extensions/i, "permessage-deflate is not negotiated");

  const noSip = await handshake(port, {
    "Sec-WebSocket-Protocol": "chat",
    Origin: "https://app.example.test",
  });
  assert.match(noSip, /^HTTP\/1\.1 400/);
  const none = await handshake(port, { Origin: "https://app.example.test" });
  assert.match(none, /^HTTP\/1\.1 400/);
  const foreign = await handshake(port, {
    "Sec-WebSocket-Protocol": "sip",
    Origin: "https://evil.example.test",
  });
  assert.match(foreign, /^HTTP\/1\.1 403/);
});

Deno.test("websocket: a 64 KB message in one frame is accepted and answered", async () => {
  await using ts = await startTestServer({ workers: 1, transports: ["ws"] });
  const client = await TestSipClient.connect("ws", ts.port("ws"));
  try {
    const body = "a=x-padding:" + "y".repeat(64 * 1024) + "\r\n";
    await client.send([
      "OPTIONS sip:127.0.0.1 SIP/2.0",
      `Via: ${client.via};branch=z9hG4bKbig1`,
      "Max-Forwards: 70",
      "From: <sip:probe@example.test>;tag=b1",
      "To: <sip:127.0.0.1>",
      "Call-ID: big-1",
      "CSeq: 1 OPTIONS",
      "Content-Type: application/sdp",
      `Content-Length: ${body.length}`,
      "",
      body,
    ].join("\r\n"));
    const res = await client.response("big-1", 1);
    assert.equal(res.status, 200);
  } finally {
    client.close();
  }
});
