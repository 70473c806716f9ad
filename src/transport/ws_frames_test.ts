import assert from "node:assert/strict";
import { encodeClose, encodeFrame, OPCODE, WsFrameDecoder } from "./ws_frames.ts";

const text = (s: string) => new TextEncoder().encode(s);

/** A client frame: masked with a fixed key, `fin` as given. */
function clientFrame(opcode: number, payload: Uint8Array, fin = true, masked = true): Uint8Array {
  const server = encodeFrame(opcode, payload);
  const header = server.length - payload.length;
  if (!fin) server[0] &= 0x7f;
  if (!masked) return server;
  const mask = [1, 2, 3, 4];
  const out = new Uint8Array(server.length + 4);
  out.set(server.subarray(0, header));
  out[1] |= 0x80;
  out.set(mask, header);
  for (let i = 0; i < payload.length; i++) out[header + 4 + i] = payload[i] ^ mask[i & 3];
  return out;
}

Deno.test("ws frames: a message split in fragments and byte by byte, with a ping between", () => {
  const d = new WsFrameDecoder(1000);
  const bytes = new Uint8Array([
    ...clientFrame(OPCODE.text, text("hel"), false),
    ...clientFrame(OPCODE.ping, text("p")),
    ...clientFrame(OPCODE.continuation, text("lo")),
  ]);
  const events = [...bytes].flatMap((b) => d.push(new Uint8Array([b])));
  assert.deepEqual(events.map((e) => e.kind), ["ping", "message"]);
  const message = events[1] as { bytes: Uint8Array };
  assert.equal(new TextDecoder().decode(message.bytes), "hello");
});

Deno.test("ws frames: an over-limit message is skipped, not buffered; the next one is kept", () => {
  const d = new WsFrameDecoder(100);
  const big = clientFrame(OPCODE.binary, new Uint8Array(70_000));
  const first = d.push(big.subarray(0, 20));
  assert.deepEqual(first, []);
  const rest = d.push(
    new Uint8Array([...big.subarray(20), ...clientFrame(OPCODE.text, text("ok"))]),
  );
  assert.deepEqual(rest.map((e) => e.kind === "message" && e.tooLarge), [true, false]);
});

Deno.test("ws frames: protocol violations are reported with 1002", () => {
  const cases: [string, Uint8Array][] = [
    ["unmasked", clientFrame(OPCODE.text, text("x"), true, false)],
    ["continuation first", clientFrame(OPCODE.continuation, text("x"))],
    ["fragmented ping", clientFrame(OPCODE.ping, text("x"), false)],
    ["reserved opcode", clientFrame(0x3, text("x"))],
  ];
  for (const [name, bytes] of cases) {
    const events = new WsFrameDecoder(100).push(bytes);
    assert.equal(events.length, 1, name);
    assert.equal(events[0].kind === "violation" && events[0].code, 1002, name);
  }
});

Deno.test("ws frames: close frames carry their code and reason", () => {
  const payload = encodeClose(1000, "bye").subarray(2);
  const [event] = new WsFrameDecoder(100).push(clientFrame(OPCODE.close, payload));
  assert.deepEqual(event, { kind: "close", code: 1000, reason: "bye" });
});

Deno.test("ws frames, client mode: our frames are masked; the server's must not be", () => {
  const payload = text("OPTIONS sip:a SIP/2.0\r\n\r\n".repeat(10));
  const ours = encodeFrame(OPCODE.text, payload, true);
  assert.equal(ours[1] & 0x80, 0x80, "mask bit set");
  const atServer = new WsFrameDecoder(1000).push(ours);
  assert.deepEqual((atServer[0] as { bytes: Uint8Array }).bytes, payload, "a server unmasks it");
  // What a server sends reaches the client decoder intact, byte by byte too.
  const fromServer = new WsFrameDecoder(1000, 0, "server");
  const events = [...encodeFrame(OPCODE.text, payload)].flatMap((b) =>
    fromServer.push(new Uint8Array([b]))
  );
  assert.deepEqual((events[0] as { bytes: Uint8Array }).bytes, payload);
  // RFC 6455 §5.1: a masked frame from the server is a protocol error.
  const [bad] = new WsFrameDecoder(1000, 0, "server").push(ours);
  assert.deepEqual(bad, { kind: "violation", code: 1002, reason: "masked server frame" });
});

Deno.test("ws frames: more fragments than allowed close with 1009", () => {
  const d = new WsFrameDecoder(1000, 2);
  const events = d.push(
    new Uint8Array([
      ...clientFrame(OPCODE.text, text("a"), false),
      ...clientFrame(OPCODE.continuation, text("b"), false),
      ...clientFrame(OPCODE.continuation, text("c")),
    ]),
  );
  assert.deepEqual(events.at(-1), {
    kind: "violation",
    code: 1009,
    reason: "more than 2 frames in one message",
  });
});

Deno.test("ws frames: masked payloads of every length unmask exactly, whole words and the bytes after them", () => {
  const d = new WsFrameDecoder(1 << 20);
  const lengths = [0, 1, 2, 3, 4, 5, 7, 8, 9, 125, 126, 127, 4093, 9000, 70_001];
  const payloads = lengths.map((n) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + n) & 0xff));
  // All in one read, so each frame's payload starts at a different offset of it.
  const read = new Uint8Array(payloads.flatMap((p) => [...encodeFrame(OPCODE.binary, p, true)]));
  const events = d.push(read);
  assert.equal(events.length, payloads.length);
  events.forEach((event, i) => {
    assert.equal(event.kind, "message");
    assert.deepEqual((event as { bytes: Uint8Array }).bytes, payloads[i], `length ${lengths[i]}`);
  });
  // The payloads are copies: reusing the read buffer changes none of them.
  read.fill(0);
  assert.deepEqual((events[8] as { bytes: Uint8Array }).bytes, payloads[8]);
});
