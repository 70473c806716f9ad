/**
 * @module WS client mode under the same keep-alive and send-timeout policy as accepted
 * WebSockets: sipws opens a WebSocket to a peer (a raw TCP listener that answers the upgrade
 * and then stays silent) and pings it after `ping_interval`, closing it with 1001 when nothing
 * comes back within `ping_timeout`; a peer that stops reading while sipws sends to it is dropped
 * after `send_timeout` instead of being buffered without bound. Both end in `ws.closed`.
 */
import assert from "node:assert/strict";
import type { Config } from "../src/config/config.ts";
import type { WsClosed } from "../src/events.ts";
import { parseMessage } from "../src/sip/parse.ts";
import { type WsEvent, WsFrameDecoder } from "../src/transport/ws_frames.ts";
import { readRequestHead, switchingProtocols } from "../src/transport/ws_handshake.ts";
import { until } from "./support/jssip_page.ts";
import { countersOf, startTestServer, type TestServer } from "./support/test_server.ts";

/** A peer that completes the `sip` upgrade sipws asks for, then reads only if told to. */
function silentPeer(): { port: number; conn: Promise<Deno.Conn>; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conn = (async () => {
    const c = await listener.accept();
    const read = await readRequestHead(c, 16384);
    if (read.kind !== "head" || !read.head) throw new Error(`no upgrade request: ${read.kind}`);
    const key = read.head.headers.get("sec-websocket-key")!;
    const reply = await switchingProtocols(key, {});
    for (let off = 0; off < reply.length;) off += await c.write(reply.subarray(off));
    return c;
  })();
  let accepted: Deno.Conn | undefined;
  conn.then((c) => accepted = c, () => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    conn,
    close() {
      listener.close();
      try {
        accepted?.close();
      } catch { /* closed by sipws */ }
    },
  };
}

/** sipws's frames as the peer reads them (masked: sipws is the client), until the end. */
async function framesFrom(conn: Deno.Conn): Promise<WsEvent[]> {
  const decoder = new WsFrameDecoder(1 << 20, 0);
  const events: WsEvent[] = [];
  const buffer = new Uint8Array(4096);
  try {
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      events.push(...decoder.push(buffer.slice(0, n)));
    }
  } catch { /* reset by sipws */ }
  return events;
}

function options(ts: TestServer, port: number, body = ""): ReturnType<typeof parseMessage> {
  const text = [
    `OPTIONS sip:peer@127.0.0.1:${port};transport=ws SIP/2.0`,
    `Via: SIP/2.0/WS 127.0.0.1:${ts.port("ws")};branch=z9hG4bK${crypto.randomUUID()}`,
    "Max-Forwards: 70",
    "From: <sip:probe@example.test>;tag=k1",
    `To: <sip:peer@127.0.0.1:${port}>`,
    `Call-ID: ${crypto.randomUUID()}`,
    "CSeq: 1 OPTIONS",
    `Content-Length: ${body.length}`,
    "",
    body,
  ].join("\r\n");
  return parseMessage(new TextEncoder().encode(text));
}

/**
 * sipws with `websocket` settings and an outbound WebSocket to a silent peer, opened by an
 * OPTIONS to it; `closedEvent` waits for that connection's `ws.closed`.
 */
async function dialedPeer(websocket: Partial<Config["websocket"]>) {
  const ts = await startTestServer({
    transports: ["ws"],
    configure: (c) => Object.assign(c.websocket, websocket),
  });
  const closed: WsClosed[] = [];
  ts.server.events.on("ws.closed", (e) => closed.push(e.closed));
  const peer = silentPeer();
  const target = { transport: "ws" as const, host: "127.0.0.1", port: peer.port };
  const flow = await ts.server.transport.send(options(ts, peer.port), target);
  return {
    ts,
    peer,
    flow,
    closedEvent: () => until("ws.closed", () => closed.find((c) => c.id === flow.id)),
    async [Symbol.asyncDispose]() {
      peer.close();
      await ts.stop();
    },
  };
}

Deno.test("WS client mode: a silent peer is pinged, then closed with 1001", async () => {
  await using dialed = await dialedPeer({ pingInterval: 1, pingTimeout: 1 });
  const events = await framesFrom(await dialed.peer.conn);
  const kinds = events.map((e) => e.kind);
  assert.deepEqual(kinds, ["message", "ping", "close"], "the OPTIONS, a ping, the close");
  assert.equal((events[2] as { code?: number }).code, 1001);
  const event = await dialed.closedEvent();
  assert.equal(event.code, 1001);
  assert.equal(event.reason, "no answer to ping");
  assert.equal(event.by, "server");
});

Deno.test("WS client mode: a peer that stops reading is dropped after send_timeout", async () => {
  await using dialed = await dialedPeer({ pingInterval: 0, sendTimeout: 500 });
  const { ts, peer, flow } = dialed;
  await peer.conn;
  // The peer reads nothing: far more than the socket buffers hold, sent without waiting.
  const big = "x".repeat(60_000);
  let closed = false;
  dialed.closedEvent().then(() => closed = true, () => {});
  for (let i = 0; i < 400 && !closed; i++) {
    ts.server.transport.send(options(ts, peer.port, big), { flow }).catch(() => {});
    if (i % 20 === 0) await new Promise((r) => setTimeout(r, 10));
  }
  const event = await dialed.closedEvent();
  assert.equal(event.reason, "send timeout");
  assert.equal(event.code, 1006);
  assert.equal(event.by, "server");
  assert.ok(
    (await countersOf(ts)).total("sip_dropped_total", { reason: "WebSocket send timeout" }),
  );
});
