import assert from "node:assert/strict";
import type { Connection, TransportSink } from "./connection.ts";
import { TcpTransport } from "./tcp.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function sipMessage(body: string): string {
  return `MESSAGE sip:a@127.0.0.1 SIP/2.0\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
}

Deno.test("tcp: messages longer than one read, in one write with short ones, arrive whole and in order", async () => {
  const delivered: string[] = [];
  const opened: Connection[] = [];
  const sink: TransportSink = {
    owner: { node: "t", worker: 0 },
    deliver: (bytes) => delivered.push(decoder.decode(bytes)),
    admit: () => true,
    opened: (c) => opened.push(c),
    closed: () => {},
    dropped: () => {},
  };
  const tcp = new TcpTransport("127.0.0.1", 0, sink, 200_000);
  tcp.run();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: tcp.local.port });
  try {
    const sent = [
      sipMessage("a"),
      sipMessage("b".repeat(30_000)),
      sipMessage("c"),
      sipMessage("d".repeat(150_000)),
      sipMessage("e"),
    ];
    const bytes = encoder.encode(sent.join(""));
    for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
    for (let i = 0; i < 400 && delivered.length < sent.length; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.deepEqual(delivered, sent);
  } finally {
    conn.close();
    for (const c of opened) c.close();
    tcp.close();
  }
});

Deno.test("tcp: sends to a peer while its connection is being opened share one connection, in order", async () => {
  const opened: Connection[] = [];
  const sink: TransportSink = {
    owner: { node: "t", worker: 0 },
    deliver: () => {},
    admit: () => true,
    opened: (c) => opened.push(c),
    closed: () => {},
    dropped: () => {},
  };
  const tcp = new TcpTransport("127.0.0.1", 0, sink, 200_000);
  const peer = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of peer) accepted.push(conn);
  })();
  try {
    // Ten requests for the peer in one turn, before the first connect completes.
    const sends = Array.from(
      { length: 10 },
      (_, i) =>
        tcp.connect("127.0.0.1", peer.addr.port).then((c) => {
          c.send(encoder.encode(sipMessage(String(i))));
          return c;
        }),
    );
    const connections = await Promise.all(sends);
    assert.equal(new Set(connections).size, 1);
    const expected = Array.from({ length: 10 }, (_, i) => sipMessage(String(i))).join("");
    let received = "";
    const buffer = new Uint8Array(4096);
    for (let i = 0; i < 400 && accepted.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    while (received.length < expected.length) {
      const n = await accepted[0].read(buffer);
      if (n === null) break;
      received += decoder.decode(buffer.subarray(0, n));
    }
    assert.equal(received, expected);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(accepted.length, 1);
    // The next dial (the first connection gone) opens a new one.
    connections[0].close();
    const again = await tcp.connect("127.0.0.1", peer.addr.port);
    assert.notEqual(again, connections[0]);
  } finally {
    for (const c of opened) c.close();
    peer.close();
    await accepting.catch(() => {});
    for (const c of accepted) c.close();
    tcp.close();
  }
});
