import assert from "node:assert/strict";
import { type Frame, StreamFramer } from "./framer.ts";
import { parseMessage } from "./parse.ts";
import { reasonOf } from "./fixtures_test.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function message(callId: string, body = ""): string {
  const n = enc.encode(body).length;
  return `OPTIONS sip:a@b SIP/2.0\r\nCall-ID: ${callId}\r\nContent-Length: ${n}\r\n\r\n${body}`;
}

const texts = (frames: Frame[]) =>
  frames.map((f) => f.kind === "message" ? dec.decode(f.bytes) : f.kind);

Deno.test("framer: several messages in one read", () => {
  const a = message("a", "hello");
  const b = message("b");
  const c = message("c", "ü");
  assert.deepEqual(texts(new StreamFramer().push(enc.encode(a + b + c))), [a, b, c]);
});

Deno.test("framer: one message across many reads, byte by byte", () => {
  const text = message("slow", "v=0\r\n".repeat(300));
  const bytes = enc.encode(text);
  const framer = new StreamFramer();
  const out: Frame[] = [];
  for (let i = 0; i < bytes.length; i++) out.push(...framer.push(bytes.subarray(i, i + 1)));
  assert.deepEqual(texts(out), [text]);
  assert.equal(framer.pending, 0);
});

Deno.test("framer: Content-Length is required, compact form and LWS accepted", () => {
  assert.equal(
    reasonOf(() =>
      new StreamFramer().push(enc.encode("OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n"))
    ),
    "Missing Content-Length",
  );
  const compact = "OPTIONS sip:a@b SIP/2.0\r\nL  :  3\r\n\r\nabc";
  assert.deepEqual(texts(new StreamFramer().push(enc.encode(compact))), [compact]);
  const long = "OPTIONS sip:a@b SIP/2.0\r\ncontent-LENGTH:2\r\nLocation: x\r\n\r\nab";
  assert.deepEqual(texts(new StreamFramer().push(enc.encode(long))), [long]);
  for (const bad of ["-1", "x", "1 2"]) {
    const text = `OPTIONS sip:a@b SIP/2.0\r\nContent-Length: ${bad}\r\n\r\n`;
    assert.equal(reasonOf(() => new StreamFramer().push(enc.encode(text))), "Bad Content-Length");
  }
});

Deno.test("framer: CRLF keep-alive is a ping, a lone CRLF a pong", () => {
  const framer = new StreamFramer();
  const m = message("k");
  assert.deepEqual(texts(framer.push(enc.encode("\r\n\r\n"))), ["ping"]);
  // A ping split across reads is still one ping.
  assert.deepEqual(texts(framer.push(enc.encode("\r\n"))), []);
  assert.deepEqual(texts(framer.push(enc.encode("\r\n" + m))), ["ping", m]);
  assert.deepEqual(texts(framer.push(enc.encode("\r\n" + m + "\r\n\r\n"))), ["pong", m, "ping"]);
});

Deno.test("framer: size cap on a head that never ends and on a large Content-Length", () => {
  const framer = new StreamFramer(1024);
  assert.equal(
    reasonOf(() => framer.push(enc.encode("OPTIONS sip:a@b SIP/2.0\r\nX: " + "y".repeat(2000)))),
    "Message Too Large",
  );
  const big = "OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 5000\r\n\r\n";
  assert.equal(reasonOf(() => new StreamFramer(1024).push(enc.encode(big))), "Message Too Large");
});

Deno.test("framer: the default cap accepts a 64 KiB body", () => {
  const body = "a".repeat(65536);
  const text = message("big", body);
  const frames = new StreamFramer().push(enc.encode(text));
  assert.equal(frames.length, 1);
  const m = parseMessage((frames[0] as { bytes: Uint8Array }).bytes, { stream: true });
  assert.equal(m.body.length, 65536);
});

Deno.test("framer: frames do not alias its buffer", () => {
  const framer = new StreamFramer();
  const [f] = framer.push(enc.encode(message("one", "xyz")));
  framer.push(enc.encode(message("two", "abc")));
  assert.equal(dec.decode((f as { bytes: Uint8Array }).bytes), message("one", "xyz"));
});

Deno.test("framer: the read buffer is lent: reusing it keeps neither frames nor a kept tail", () => {
  const framer = new StreamFramer();
  const a = message("a", "first");
  const b = message("b", "x".repeat(6000)); // its tail outgrows the kept buffer's first size
  const c = message("c", "third");
  const whole = enc.encode(a + b + c);
  const read = new Uint8Array(whole.length);
  const cut = a.length + 3000;
  read.set(whole.subarray(0, cut));
  const out = framer.push(read.subarray(0, cut));
  read.fill(0x21); // the connection reads into the same buffer again
  read.set(whole.subarray(cut));
  out.push(...framer.push(read.subarray(0, whole.length - cut)));
  read.fill(0x21);
  assert.deepEqual(texts(out), [a, b, c]);
  assert.equal(framer.pending, 0);
});

Deno.test("framer: bare-LF heads, and every split of a stream into two reads frames alike", () => {
  const bare = "OPTIONS sip:a@b SIP/2.0\nCall-ID: lf\nl: 4\n\nbody";
  const crlf = message("crlf", "v=0\r\n");
  const mixed = "INFO sip:a@b SIP/2.0\r\nX: 1\nContent-Length:   2 \r\n\nok";
  const text = bare + crlf + "\r\n\r\n" + mixed;
  const bytes = enc.encode(text);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const framer = new StreamFramer();
    const out = framer.push(bytes.slice(0, cut));
    out.push(...framer.push(bytes.slice(cut)));
    assert.deepEqual(texts(out), [bare, crlf, "ping", mixed], `cut at ${cut}`);
  }
  const twice = "OPTIONS sip:a@b SIP/2.0\nl: 1\nContent-Length: 2\n\nab";
  assert.equal(reasonOf(() => new StreamFramer().push(enc.encode(twice))), "Bad Content-Length");
});
