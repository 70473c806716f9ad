/**
 * WebSocket strictness (RFC 6455) on WS and WSS, with a raw socket (a client library
 * would not misbehave): an unmasked client frame is refused with close code 1002 (RFC 6455
 * §5.1) and gets no SIP answer; a handshake whose head passes `[websocket]
 * max_header_size` is answered 431 and closed as soon as the limit is passed, while one
 * under the limit is accepted.
 */
import assert from "node:assert/strict";
import { startTestServer } from "./support/test_server.ts";
import { RawWsClient } from "./support/raw_ws.ts";

const OPTIONS = [
  "OPTIONS sip:127.0.0.1 SIP/2.0",
  "Via: SIP/2.0/WS abc.invalid;branch=z9hG4bKunmasked1",
  "Max-Forwards: 70",
  "From: <sip:probe@example.test>;tag=u1",
  "To: <sip:127.0.0.1>",
  "Call-ID: unmasked-1",
  "CSeq: 1 OPTIONS",
  "Content-Length: 0",
  "",
  "",
].join("\r\n");

/** Rejects if `p` does not settle within `ms` (the server neither answered nor closed). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

for (const transport of ["ws", "wss"] as const) {
  Deno.test(`${transport}: an unmasked client frame is closed with 1002, not answered`, async () => {
    await using ts = await startTestServer({ transports: [transport] });
    const secure = transport === "wss";
    // A masked OPTIONS is answered: the socket and the handshake are fine.
    const good = await RawWsClient.connect(ts.port(transport), secure);
    try {
      await good.sendFrame(0x1, OPTIONS);
      const answer = await within(good.readFrame(), 3000, "masked OPTIONS");
      assert.match(new TextDecoder().decode(answer!.payload), /^SIP\/2\.0 200/);
    } finally {
      good.close();
    }
    const bad = await RawWsClient.connect(ts.port(transport), secure);
    try {
      await bad.sendFrame(0x1, OPTIONS, false);
      const frame = await within(bad.readFrame(), 3000, "unmasked OPTIONS");
      assert.ok(frame, "the server sent a frame before closing");
      assert.equal(
        frame.opcode,
        0x8,
        `a close frame, not ${new TextDecoder().decode(frame.payload)}`,
      );
      assert.equal((frame.payload[0] << 8) | frame.payload[1], 1002);
      assert.ok(await within(bad.ended(), 3000, "TCP close"), "the server closes the connection");
    } finally {
      bad.close();
    }
  });

  Deno.test(`${transport}: a handshake head over max_header_size gets 431 at once`, async () => {
    await using ts = await startTestServer({
      transports: [transport],
      configure: (c) => c.websocket.maxHeaderSize = 4096,
    });
    const secure = transport === "wss";
    const under = await RawWsClient.open(ts.port(transport), secure);
    try {
      const status = await within(under.handshake([`X-Pad: ${"a".repeat(3000)}`]), 3000, "3 KB");
      assert.match(status, /^HTTP\/1\.1 101/);
    } finally {
      under.close();
    }
    const huge = await RawWsClient.open(ts.port(transport), secure);
    try {
      // 1 MB of header: the answer must come once 4 KB have passed, not after the rest.
      const writing = huge.handshake([`X-Pad: ${"a".repeat(1 << 20)}`]);
      const status = await within(writing.catch(() => "write failed: closed"), 5000, "1 MB");
      assert.match(status, /^HTTP\/1\.1 431|closed/);
      assert.ok(await within(huge.ended(), 3000, "TCP close"), "the server closes the connection");
    } finally {
      huge.close();
    }
  });
}
