import assert from "node:assert/strict";
import { Decoder, Encoder } from "./ring_codec.ts";

function roundTrip(value: unknown): unknown {
  const bytes = new Encoder().encode(7, value).slice();
  assert.equal(bytes[0], 7);
  return new Decoder(bytes, new DataView(bytes.buffer)).decode(1);
}

Deno.test("ring codec: a location change comes back as JSON would carry it", () => {
  const change = {
    op: "saved",
    binding: {
      aor: "sip:alice@example.test",
      contact: "<sip:alice@127.0.0.1:5062;transport=udp>",
      contactPort: 5062,
      flow: {
        id: "udp:3fa0.0:127.0.0.1:5060>127.0.0.1:5062",
        owner: { node: "3fa0", worker: 1 },
        transport: "udp",
        local: { host: "127.0.0.1", port: 5060 },
        remote: { host: "::1", port: 40000 },
        reliable: false,
        secure: false,
      },
      cseq: 4294967295,
      expiresAt: 1_796_444_581_889.5,
      path: ["<sip:p1.example.test;lr>", "<sip:p2;lr>"],
      instance: undefined,
      userAgent: "Zoë's phone ☎",
      outstandingPings: 0,
      unlisted: -1,
    },
  };
  assert.deepEqual(roundTrip(change), JSON.parse(JSON.stringify(change)));
});

Deno.test("ring codec: bytes, nesting, null and the values JSON turns to null", () => {
  const value = {
    t: "sip",
    bytes: new Uint8Array([0, 1, 254, 255]),
    labels: { "x-odd key": "é".repeat(5000) },
    list: [1, undefined, null, true, false, -0.5, [[]], {}],
    when: new Date(0),
    skip: () => 1,
  };
  const back = roundTrip(value) as Record<string, unknown>;
  assert.deepEqual(back.bytes, new Uint8Array([0, 1, 254, 255]));
  assert.deepEqual(
    { ...back, bytes: undefined },
    { ...JSON.parse(JSON.stringify({ ...value, bytes: null })), bytes: undefined },
  );
  assert.equal("skip" in back, false);
  assert.equal(roundTrip("a".repeat(70_000)), "a".repeat(70_000));
});

Deno.test("ring codec: one decoder reading many short strings, repeated and colliding, returns each exactly", () => {
  // More distinct strings than the decoder keeps (1024 slots), of one length, each read
  // several times: a string kept from before must never stand for other bytes.
  const strings = Array.from({ length: 3000 }, (_, i) => `u${String(i).padStart(6, "0")}@x`);
  const values = [...strings, ...strings.slice(0, 500), ...strings.slice(2500), "", "é", "a"];
  const bytes = new Encoder().encode(7, values).slice();
  const decoder = new Decoder(bytes, new DataView(bytes.buffer));
  assert.deepEqual(decoder.decode(1), values);
  assert.deepEqual(decoder.decode(1), values);
});
