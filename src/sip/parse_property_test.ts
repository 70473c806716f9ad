import assert from "node:assert/strict";
import fc from "fast-check";
import { SipParseError } from "./errors.ts";
import { type Frame, StreamFramer } from "./framer.ts";
import { type SipMessage, SipRequest, SipResponse } from "./message.ts";
import { findHeadEnd, parseMessage, validateMessage } from "./parse.ts";

const enc = new TextEncoder();

const SEED_MESSAGES = [
  "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP [::1]:5060;branch=z9hG4bK1;rport\r\n" +
  'From: "A, B" <sip:a@example.com>;tag=1\r\nTo: sip:bob@example.com\r\nCall-ID: c1\r\n' +
  "CSeq: 1 INVITE\r\nContact: <sip:a@10.0.0.1>;expires=60, *\r\nMax-Forwards: 70\r\n" +
  "Content-Length: 9\r\n\r\nv=0\r\ns=-\r\n",
  "SIP/2.0 200 OK\r\nv: SIP/2.0/TCP h;branch=z9hG4bK2\r\nf: <sip:a@h>;tag=2\r\nt: <sip:b@h>\r\n" +
  "i: c2\r\nCSeq: 2 REGISTER\r\nm: <sip:a@h>;expires=600\r\nl: 0\r\n\r\n",
];

/** Reads every accessor and validates: only SipParseError may escape. */
function exercise(bytes: Uint8Array): void {
  let m: SipMessage;
  try {
    m = parseMessage(bytes);
  } catch (e) {
    if (e instanceof SipParseError) return;
    throw e;
  }
  for (
    const read of [
      () => m.topVia,
      () => m.vias,
      () => m.from,
      () => m.to,
      () => m.callId,
      () => m.cseq,
      () => m.contacts,
      () => m.maxForwards,
      () => validateMessage(m),
      () => m.toBytes(),
    ]
  ) {
    try {
      read();
    } catch (e) {
      if (!(e instanceof SipParseError)) throw e;
    }
  }
}

Deno.test("property: arbitrary bytes parse or throw SipParseError, nothing else", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => exercise(bytes)),
    { numRuns: 3000 },
  );
});

Deno.test("property: arbitrary text around a SIP skeleton parses or throws SipParseError", () => {
  const line = fc.string({ unit: "binary-ascii", maxLength: 60 });
  fc.assert(
    fc.property(fc.array(line, { maxLength: 12 }), line, (lines, first) => {
      exercise(enc.encode(`${first}\r\n${lines.join("\r\n")}\r\n\r\n`));
      exercise(enc.encode(`INVITE sip:a@b SIP/2.0\r\n${lines.join("\r\n")}\r\n\r\n`));
    }),
    { numRuns: 2000 },
  );
});

Deno.test("property: mutated valid messages parse or throw SipParseError", () => {
  const seeds = SEED_MESSAGES.map((s) => enc.encode(s));
  const edit = fc.record({
    at: fc.nat(),
    byte: fc.integer({ min: 0, max: 255 }),
    op: fc.constantFrom("set", "insert", "delete"),
  });
  fc.assert(
    fc.property(fc.constantFrom(...seeds), fc.array(edit, { maxLength: 8 }), (seed, edits) => {
      let bytes = Array.from(seed);
      for (const { at, byte, op } of edits) {
        const i = at % (bytes.length + 1);
        if (op === "set" && i < bytes.length) bytes[i] = byte;
        else if (op === "insert") bytes.splice(i, 0, byte);
        else bytes.splice(i, 1);
      }
      bytes = bytes.slice(0, 4096);
      exercise(Uint8Array.from(bytes));
    }),
    { numRuns: 3000 },
  );
});

// --- Generated messages -------------------------------------------------------------------

const tokenChar = fc.constantFrom(
  ..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~",
);
const token = fc.string({ unit: tokenChar, minLength: 1, maxLength: 12 });
/** Header names of two or more characters (single letters are compact forms, renamed). */
const headerName = fc.string({ unit: tokenChar, minLength: 2, maxLength: 16 }).filter((n) =>
  n.toLowerCase() !== "content-length"
);
/** A header value: no CR/LF, no leading or trailing SP/HT (LWS is not significant there). */
const headerValue = fc.string({ unit: "grapheme", maxLength: 40 })
  .map((s) => s.replace(/[\r\n]/g, " ").replace(/^[ \t]+|[ \t]+$/g, ""));
const host = fc.oneof(
  fc.domain(),
  fc.ipV4(),
  fc.ipV6().map((h) => `[${h}]`),
);
const requestUri = fc.tuple(
  fc.constantFrom("sip", "sips"),
  token,
  host,
  fc.option(fc.integer({ min: 1, max: 65535 })),
)
  .map(([scheme, user, h, port]) => `${scheme}:${user}@${h}${port === null ? "" : `:${port}`}`);
const headers = fc.array(fc.tuple(headerName, headerValue), { maxLength: 12 });
const body = fc.uint8Array({ maxLength: 300 });

const request = fc.tuple(token, requestUri, headers, body).map(([method, uri, hs, b]) => {
  const m = new SipRequest(method, uri);
  for (const [n, v] of hs) m.headers.push({ key: n.toLowerCase(), name: n, value: v });
  m.body = b;
  return m as SipMessage;
});
const response = fc.tuple(
  fc.integer({ min: 100, max: 699 }),
  fc.string({ unit: "grapheme", maxLength: 30 }).map((s) => s.replace(/[\r\n]/g, "")),
  headers,
  body,
).map(([status, reason, hs, b]) => {
  const m = new SipResponse(status, reason);
  for (const [n, v] of hs) m.headers.push({ key: n.toLowerCase(), name: n, value: v });
  m.body = b;
  return m as SipMessage;
});
const message = fc.oneof(request, response);

function same(a: SipMessage, b: SipMessage): void {
  if (a.isRequest) {
    assert.ok(b.isRequest);
    assert.equal(b.method, a.method);
    assert.equal(b.uri, a.uri);
  } else {
    assert.ok(!b.isRequest);
    assert.equal(b.status, a.status);
    assert.equal(b.reason, a.reason);
  }
  assert.deepEqual(
    b.headers.filter((h) => h.key !== "content-length"),
    a.headers.filter((h) => h.key !== "content-length"),
  );
  assert.deepEqual(b.body, a.body);
}

Deno.test("property: parse(serialize(m)) equals m for generated messages", () => {
  fc.assert(
    fc.property(message, (m) => same(m, parseMessage(m.toBytes(), { stream: true }))),
    { numRuns: 1500 },
  );
});

Deno.test("property: any chunking of a stream frames the same messages", () => {
  const keepAlive = fc.constantFrom("", "", "\r\n\r\n");
  fc.assert(
    fc.property(
      fc.array(fc.tuple(keepAlive, message), { minLength: 1, maxLength: 5 }),
      fc.array(fc.nat(), { maxLength: 20 }),
      (items, cutsRaw) => {
        const parts = items.flatMap(([ka, m]) => [enc.encode(ka), m.toBytes()]);
        const total = parts.reduce((n, p) => n + p.length, 0);
        const stream = new Uint8Array(total);
        let o = 0;
        for (const p of parts) {
          stream.set(p, o);
          o += p.length;
        }
        const cuts = [...new Set(cutsRaw.map((c) => c % (total + 1)))].sort((a, b) => a - b);
        const framer = new StreamFramer();
        const frames: Frame[] = [];
        let prev = 0;
        for (const c of [...cuts, total]) {
          frames.push(...framer.push(stream.subarray(prev, c)));
          prev = c;
        }
        assert.equal(framer.pending, 0);
        const whole = new StreamFramer().push(stream);
        assert.deepEqual(frames, whole);
        const messages = frames.filter((f) => f.kind === "message");
        assert.equal(messages.length, items.length);
        messages.forEach((f, i) => same(items[i][1], parseMessage(f.bytes, { stream: true })));
        assert.equal(
          frames.filter((f) => f.kind === "ping").length,
          items.filter(([ka]) => ka).length,
        );
      },
    ),
    { numRuns: 800 },
  );
});

Deno.test("property: findHeadEnd agrees with a byte-by-byte reference", () => {
  const reference = (b: Uint8Array, from: number) => {
    for (let i = from; i < b.length - 1; i++) {
      if (b[i] !== 10) continue;
      if (b[i + 1] === 10) return i + 2;
      if (b[i + 1] === 13 && i + 2 < b.length && b[i + 2] === 10) return i + 3;
    }
    return -1;
  };
  const crlfHeavy = fc.array(fc.constantFrom(10, 13, 10, 13, 65, 32), { maxLength: 64 })
    .map((a) => Uint8Array.from(a));
  fc.assert(
    fc.property(crlfHeavy, fc.nat(70), (b, from) => {
      assert.equal(findHeadEnd(b, from), reference(b, from));
    }),
    { numRuns: 5000 },
  );
});
