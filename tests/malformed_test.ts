/**
 * @module Robustness proof: malformed input over UDP, TCP and WS. Each bad input gets a
 * stateless `400` with the specific reason phrase when a response can be built (Via,
 * From, To, Call-ID, CSeq recoverable) or is dropped and counted (`sip_parse_errors_total`
 * / `sip_dropped_total`); a stream that breaks framing loses only its own connection. After
 * every bad input a valid OPTIONS to the server still gets 200. Ends with a bounded,
 * seeded fuzz loop of mutated REGISTERs over UDP.
 */
import assert from "node:assert/strict";
import { countersOf, startTestServer, type TestServer } from "./support/test_server.ts";
import { type ClientTransport, TestSipClient } from "./support/sip_client.ts";
import type { SipResponse } from "../src/sip/message.ts";
import { until } from "./support/poll.ts";

const MAX_MESSAGE = 32768;
const encoder = new TextEncoder();

interface Parts {
  start?: string;
  callId?: string | null;
  cseq?: string;
  body?: string;
  contentLength?: string | null;
  extra?: string[];
}

/** An OPTIONS to the server from `client`, with parts replaced to make it bad. */
function options(client: TestSipClient, p: Parts = {}): string {
  const callId = p.callId === undefined ? `ok-${crypto.randomUUID()}` : p.callId;
  const body = p.body ?? "";
  return [
    p.start ?? "OPTIONS sip:127.0.0.1 SIP/2.0",
    `Via: ${client.via};branch=z9hG4bK${crypto.randomUUID().slice(0, 12)};rport`,
    "Max-Forwards: 70",
    `From: <sip:probe@example.test>;tag=${crypto.randomUUID().slice(0, 8)}`,
    "To: <sip:127.0.0.1>",
    ...(callId === null ? [] : [`Call-ID: ${callId}`]),
    `CSeq: ${p.cseq ?? "1 OPTIONS"}`,
    ...(p.extra ?? []),
    ...(p.contentLength === null
      ? []
      : [`Content-Length: ${p.contentLength ?? encoder.encode(body).length}`]),
    "",
    body,
  ].join("\r\n");
}

async function dropCount(ts: TestServer): Promise<number> {
  const c = await countersOf(ts);
  return c.total("sip_parse_errors_total") + c.total("sip_dropped_total");
}

/** Waits (bounded) until the server counted a drop beyond `before` (late on a loaded box). */
async function dropCounted(ts: TestServer, before: number, what: string): Promise<void> {
  await until(what, async () => (await dropCount(ts)) > before || undefined);
}

/** A fresh client sends a valid OPTIONS to the server and must get 200. */
async function assertAlive(ts: TestServer, transport: ClientTransport, after: string) {
  const client = await TestSipClient.connect(transport, ts.port(transport));
  try {
    const callId = `alive-${crypto.randomUUID()}`;
    await client.send(options(client, { callId }));
    const ok = await client.response(callId, 1, 3000);
    assert.equal(ok.status, 200, `OPTIONS after ${after} over ${transport}`);
  } finally {
    client.close();
  }
}

/** Nothing (no SIP message) arrives at `client` within `ms`. */
async function assertSilent(client: TestSipClient, ms: number, what: string) {
  const got = await client.wait(() => true, ms).catch(() => undefined);
  assert.equal(got, undefined, `${what}: expected no answer, got ${got?.toString().slice(0, 80)}`);
}

async function sendQuietly(client: TestSipClient, bytes: string | Uint8Array): Promise<void> {
  // The server may close a stream mid-write (framing error): that is the expected outcome.
  await client.send(bytes).catch(() => {});
}

type Expect = { status: number; reason: RegExp } | "drop" | "close";

interface Case {
  name: string;
  build: (client: TestSipClient) => string | Uint8Array;
  /** Expected outcome per transport. */
  expect: Partial<Record<ClientTransport, Expect>>;
}

function garbage(seed: number, n: number): Uint8Array {
  const out = new Uint8Array(n + 4);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = (x >>> 16) & 0xff;
  }
  out.set([13, 10, 13, 10], n);
  return out;
}

const CASES: Case[] = [
  {
    name: "garbage bytes",
    build: () => garbage(7, 600),
    expect: { udp: "drop", tcp: "close", ws: "drop" },
  },
  {
    name: "bad start line",
    build: (c) => options(c, { start: "OPTIONS sip:127.0.0.1 SIP/2.0 trailing-junk" }),
    expect: { udp: "drop", tcp: "drop", ws: "drop" },
  },
  {
    name: "missing Call-ID",
    build: (c) => options(c, { callId: null }),
    expect: {
      udp: { status: 400, reason: /^Missing Call-ID$/ },
      tcp: { status: 400, reason: /^Missing Call-ID$/ },
      ws: { status: 400, reason: /^Missing Call-ID$/ },
    },
  },
  {
    name: "bad CSeq",
    build: (c) => options(c, { cseq: "one OPTIONS" }),
    expect: {
      udp: { status: 400, reason: /^Bad CSeq$/ },
      tcp: { status: 400, reason: /^Bad CSeq$/ },
      ws: { status: 400, reason: /^Bad CSeq$/ },
    },
  },
  {
    name: "CSeq method differs from the request method",
    build: (c) => options(c, { cseq: "1 INVITE" }),
    expect: {
      udp: { status: 400, reason: /^CSeq method mismatch$/ },
      tcp: { status: 400, reason: /^CSeq method mismatch$/ },
      ws: { status: 400, reason: /^CSeq method mismatch$/ },
    },
  },
  {
    name: "Content-Length larger than the body",
    build: (c) => options(c, { body: "hi", contentLength: "50" }),
    // On a stream the server rightly waits for the rest; covered by its own test below.
    expect: {
      udp: { status: 400, reason: /^Bad Content-Length$/ },
      ws: { status: 400, reason: /^Bad Content-Length$/ },
    },
  },
  {
    name: "negative Content-Length",
    build: (c) => options(c, { contentLength: "-3" }),
    expect: {
      udp: { status: 400, reason: /^Bad Content-Length$/ },
      tcp: "close",
      ws: { status: 400, reason: /^Bad Content-Length$/ },
    },
  },
  {
    name: "no Content-Length on a stream",
    build: (c) => options(c, { contentLength: null }),
    expect: { tcp: "close" },
  },
  {
    name: "header line without a colon",
    build: (c) => options(c, { extra: ["this is not a header"] }),
    expect: {
      udp: { status: 400, reason: /^Bad header$/ },
      tcp: { status: 400, reason: /^Bad header$/ },
      ws: { status: 400, reason: /^Bad header$/ },
    },
  },
  {
    name: "oversize message",
    build: (c) => options(c, { body: "v=0\r\n" + "a=x\r\n".repeat(MAX_MESSAGE / 5) }),
    expect: { udp: "drop", tcp: "close", ws: "drop" },
  },
  {
    name: "response with a bad status code",
    build: () => "SIP/2.0 9999 Whatever\r\nContent-Length: 0\r\n\r\n",
    expect: { udp: "drop", tcp: "drop", ws: "drop" },
  },
];

for (const transport of ["udp", "tcp", "ws"] as const) {
  Deno.test(`malformed input over ${transport}: 400 with reason or drop, server stays up`, async () => {
    await using ts = await startTestServer({
      transports: [transport],
      configure: (c) => {
        // WebSocket has its own limit ([websocket] max_message_size): the same here.
        c.sip.maxMessageSize = MAX_MESSAGE;
        c.websocket.maxMessageSize = MAX_MESSAGE;
      },
    });
    for (const c of CASES) {
      const expect = c.expect[transport];
      if (!expect) continue;
      const what = `${c.name} over ${transport}`;
      const client = await TestSipClient.connect(transport, ts.port(transport));
      try {
        const dropsBefore = await dropCount(ts);
        await sendQuietly(client, c.build(client));
        if (expect === "drop" || expect === "close") {
          if (expect === "close") {
            const closed = await Promise.race([
              client.closed.then(() => true),
              new Promise((r) => setTimeout(() => r(false), 3000)),
            ]);
            assert.ok(closed, `${what}: the server closes the connection`);
          } else {
            await assertSilent(client, 300, what);
          }
          await dropCounted(ts, dropsBefore, `${what}: counted as parse error / drop`);
        } else {
          const answer = await client.wait((m) => !m.isRequest, 3000) as SipResponse;
          assert.equal(answer.status, expect.status, `${what}: ${answer.status} ${answer.reason}`);
          assert.match(answer.reason, expect.reason, what);
          assert.equal(answer.getAll("via").length, 1, `${what}: the 400 carries the Via`);
        }
      } finally {
        client.close();
      }
      await assertAlive(ts, transport, c.name);
    }
    assert.equal((await countersOf(ts)).total("sip_internal_errors_total"), 0);
  });
}

Deno.test("TCP Content-Length mismatch: framing follows Content-Length, connection survives", async () => {
  await using ts = await startTestServer({ transports: ["tcp"] });
  const client = await TestSipClient.connect("tcp", ts.port("tcp"));
  try {
    // Says 5, carries 11: "hello" is the body, " world" runs into the next message.
    const first = options(client, { callId: "cl-first", body: "hello world", contentLength: "5" });
    const second = options(client, { callId: "cl-second" });
    const dropsBefore = await dropCount(ts);
    await client.send(first + second);
    const ok = await client.response("cl-first", 1);
    assert.equal(ok.status, 200, "the first message, with a 5-byte body, is answered");
    // " world" + "OPTIONS ..." frames as one message with a bad start line: dropped.
    await assertSilent(client, 300, "spliced message");
    await dropCounted(ts, dropsBefore, "the spliced message counted");
    // The same connection still works.
    await client.send(options(client, { callId: "cl-third" }));
    assert.equal((await client.response("cl-third", 1)).status, 200);
  } finally {
    client.close();
  }
});

Deno.test("TCP: a message split across many writes is answered once complete", async () => {
  await using ts = await startTestServer({ transports: ["tcp"] });
  const client = await TestSipClient.connect("tcp", ts.port("tcp"));
  try {
    const bytes = encoder.encode(options(client, { callId: "split", body: "x".repeat(300) }));
    for (let i = 0; i < bytes.length; i += 37) {
      await client.send(bytes.subarray(i, Math.min(bytes.length, i + 37)));
      await new Promise((r) => setTimeout(r, 1));
    }
    assert.equal((await client.response("split", 1)).status, 200);
  } finally {
    client.close();
  }
});

Deno.test("malformed response (garbage Via) is dropped and counted, never answered", async () => {
  await using ts = await startTestServer({ transports: ["udp"] });
  const client = await TestSipClient.connect("udp", ts.port("udp"));
  try {
    const before = (await dropCount(ts)) +
      (await countersOf(ts)).total("sip_stray_responses_total");
    await client.send(
      "SIP/2.0 200 OK\r\nVia: garbage garbage\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\n" +
        "Call-ID: resp-garbage\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    );
    await assertSilent(client, 300, "malformed response");
    const after = (await dropCount(ts)) + (await countersOf(ts)).total("sip_stray_responses_total");
    assert.ok(after > before, "a dropped response shows in the counters");
  } finally {
    client.close();
  }
  await assertAlive(ts, "udp", "malformed response");
});

Deno.test("unsupported SIP version is answered 505 (RFC 3261 §21.5.7, RFC 4475 §3.1.2.16)", async () => {
  await using ts = await startTestServer({ transports: ["udp"] });
  const client = await TestSipClient.connect("udp", ts.port("udp"));
  try {
    await client.send(options(client, { callId: "v7", start: "OPTIONS sip:127.0.0.1 SIP/7.0" }));
    const answer = await client.wait((m) => !m.isRequest, 3000) as SipResponse;
    assert.equal(answer.status, 505, `${answer.status} ${answer.reason}`);
  } finally {
    client.close();
  }
});

/** mulberry32: a small seeded PRNG, so a failing fuzz run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SPECIAL = [...'\r\n:;,<>"@ \t=\\'].map((c) => c.charCodeAt(0)).concat([0, 0xff, 0xc3]);

/** One random mutation (byte flip, special byte, delete, duplicate, insert, truncate). */
function mutate(base: Uint8Array, rand: () => number): Uint8Array {
  const bytes = [...base];
  const steps = 1 + Math.floor(rand() * 4);
  for (let s = 0; s < steps && bytes.length > 0; s++) {
    const at = Math.floor(rand() * bytes.length);
    const op = Math.floor(rand() * 6);
    if (op === 0) bytes[at] = Math.floor(rand() * 256);
    else if (op === 1) bytes[at] = SPECIAL[Math.floor(rand() * SPECIAL.length)];
    else if (op === 2) bytes.splice(at, 1 + Math.floor(rand() * 20));
    else if (op === 3) bytes.splice(at, 0, ...bytes.slice(at, at + 1 + Math.floor(rand() * 40)));
    else if (op === 4) bytes.splice(at, 0, Math.floor(rand() * 256));
    else bytes.length = at;
  }
  return new Uint8Array(bytes);
}

Deno.test("fuzz: 2000 mutated REGISTERs over UDP never crash the server", async () => {
  const SEED = 20240601;
  const N = 2000;
  await using ts = await startTestServer({
    transports: ["udp"],
    accounts: [{ user: "alice", domain: "example.test", password: "x" }],
    // 2,000 requests a second from one address is this test's load, not an attack.
    configure: (c) => c.abuse.trusted = ["127.0.0.1/32"],
  });
  const client = await TestSipClient.connect("udp", ts.port("udp"));
  const rand = prng(SEED);
  try {
    const base = encoder.encode(
      [
        "REGISTER sip:example.test SIP/2.0",
        `Via: SIP/2.0/UDP 127.0.0.1:${client.localPort};branch=z9hG4bKfuzz1;rport`,
        "Max-Forwards: 70",
        'From: "Alice" <sip:alice@example.test>;tag=f1',
        "To: <sip:alice@example.test>",
        "Call-ID: fuzz-1@127.0.0.1",
        "CSeq: 1 REGISTER",
        `Contact: <sip:alice@127.0.0.1:${client.localPort}>;expires=60;+sip.instance="<urn:uuid:1>"`,
        'Authorization: Digest username="alice", realm="example.test", nonce="abc", ' +
        'uri="sip:example.test", response="0123456789abcdef0123456789abcdef", qop=auth, ' +
        'nc=00000001, cnonce="x", algorithm=MD5',
        "Content-Type: text/plain",
        "Content-Length: 5",
        "",
        "hello",
      ].join("\r\n"),
    );
    const deadline = Date.now() + 30_000;
    for (let i = 0; i < N && Date.now() < deadline; i++) {
      await client.send(mutate(base, rand));
      // Pace the burst so the kernel's socket buffers never drop our probes.
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 5));
    }
    // Every datagram read (answered, dropped or counted) before the verdict.
    const seenOf = async () =>
      (await countersOf(ts)).total("sip_messages_in_total") + (await dropCount(ts));
    await until(
      `the server seeing ${N * 0.9} of ${N} datagrams`,
      async () => (await seenOf()) >= N * 0.9 || undefined,
    );
    assert.equal(
      (await countersOf(ts)).total("sip_internal_errors_total"),
      0,
      `seed ${SEED}: a mutation caused a 500 (unexpected exception in the core)`,
    );
    const seen = await seenOf();
    assert.ok(seen >= N * 0.9, `server saw ${seen} of ${N} datagrams`);
  } finally {
    client.close();
  }
  await assertAlive(ts, "udp", "the fuzz loop");
});
