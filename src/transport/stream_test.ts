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
