import assert from "node:assert/strict";
import type { Flow } from "./types.ts";
import { queuedWriteBytes } from "./write_queue.ts";
import { handleFrameEvents, WsConnection } from "./ws_connection.ts";
import { WsFrameDecoder } from "./ws_frames.ts";
import { pair } from "./fixtures_test.ts";

function flow(secure: boolean): Flow {
  return {
    id: `ws-test-${secure}`,
    transport: secure ? "wss" : "ws",
    local: { host: "127.0.0.1", port: 1 },
    remote: { host: "127.0.0.1", port: 2 },
    reliable: true,
    secure,
  };
}

/** Counts the async write ops `conn` is asked for. */
function countWrites(conn: Deno.Conn): { ops: number } {
  const counter = { ops: 0 };
  const write = conn.write.bind(conn);
  conn.write = (bytes: Uint8Array) => {
    counter.ops++;
    return write(bytes);
  };
  return counter;
}

/** Reads server frames from `conn` until `count` messages are in; returns their payloads. */
async function readMessages(conn: Deno.Conn, count: number): Promise<Uint8Array[]> {
  const decoder = new WsFrameDecoder(1 << 20, 0, "server");
  const buffer = new Uint8Array(1 << 16);
  const payloads: Uint8Array[] = [];
  while (payloads.length < count) {
    const n = await conn.read(buffer);
    if (n === null) break;
    for (const event of decoder.push(buffer.subarray(0, n))) {
      assert.equal(event.kind, "message");
      if (event.kind === "message") payloads.push(event.bytes);
    }
  }
  return payloads;
}

Deno.test("WS connection: a plain one writes its text frames directly, without the write op; a secure one through the op", async () => {
  for (const secure of [false, true]) {
    const p = await pair();
    const writes = countWrites(p.accepted);
    const connection = new WsConnection(p.accepted, flow(secure), undefined, () => {});
    try {
      const texts = ["SIP/2.0 200 OK\r\n\r\n", "x".repeat(300), "y".repeat(70_000)];
      const sent = texts.map((t) => connection.send(new TextEncoder().encode(t)));
      const payloads = await readMessages(p.dialled, texts.length);
      await Promise.all(sent);
      assert.deepEqual(payloads.map((b) => new TextDecoder().decode(b)), texts);
      const header = 2 + 4 + 10; // 7-bit, 16-bit and 64-bit lengths
      assert.equal(connection.bytesOut, texts.reduce((n, t) => n + t.length, header));
      if (secure) assert.ok(writes.ops > 0, "TLS must encrypt its bytes: the op writes them");
      else assert.equal(writes.ops, 0, "the socket took every frame directly");
    } finally {
      connection.abort("test over");
      p.close();
    }
  }
});

Deno.test("WS connection: frames to a peer that reads nothing yet arrive whole and in order (direct, then the op)", async () => {
  const p = await pair();
  const writes = countWrites(p.accepted);
  const connection = new WsConnection(p.accepted, flow(false), undefined, () => {});
  try {
    // Far more than the socket buffers hold: direct sends fill them, the op waits for room.
    const payloads = Array.from({ length: 300 }, (_, i) => new Uint8Array(20_000).fill(i % 251));
    const sent = Promise.all(payloads.map((b) => connection.send(b)));
    assert.ok(queuedWriteBytes() > 0, "the peer reads nothing yet: frames wait");
    const received = await readMessages(p.dialled, payloads.length);
    await sent;
    assert.equal(received.length, payloads.length);
    received.forEach((b, i) => {
      assert.equal(b.length, 20_000);
      assert.ok(b.every((x) => x === i % 251), `frame ${i} out of order or corrupted`);
    });
    assert.ok(writes.ops > 0, "what the socket did not take went through the op");
    assert.equal(connection.queued(), 0);
  } finally {
    connection.abort("test over");
    p.close();
  }
});

Deno.test("WS connection: a closed one no longer writes on its descriptor", async () => {
  const p = await pair();
  const connection = new WsConnection(p.accepted, flow(false), undefined, () => {});
  connection.abort("gone");
  await assert.rejects(connection.send(new Uint8Array([1])));
  p.close();
});

Deno.test("WS connection: a close frame sent while a read's answers are held reaches the peer before the socket closes, even when its write takes turns", async () => {
  for (const slow of [false, true]) {
    const p = await pair();
    if (slow) {
      // A write op that completes a few turns later (as TLS's may): no direct send, and a
      // close must wait for it.
      const write = p.accepted.write.bind(p.accepted);
      p.accepted.write = async (bytes: Uint8Array) => {
        await new Promise((r) => setTimeout(r, 20));
        return await write(bytes);
      };
    }
    const connection = new WsConnection(p.accepted, flow(slow), undefined, () => {});
    const sink = {
      owner: { node: "test", worker: 0 },
      deliver: () => {},
      admit: () => true,
      opened: () => {},
      closed: () => {},
      dropped: () => {},
    };
    const done = connection.run(
      new Uint8Array(0),
      new WsFrameDecoder(1 << 16),
      (c, events) => handleFrameEvents(c, events, sink),
    );
    try {
      // An unmasked client frame: the server answers with a 1002 close frame, then closes.
      await p.dialled.write(new Uint8Array([0x81, 0x02, 0x68, 0x69]));
      const decoder = new WsFrameDecoder(1 << 16, 0, "server");
      const buffer = new Uint8Array(1024);
      const events = [];
      for (;;) {
        const n = await p.dialled.read(buffer).catch(() => null);
        if (n === null) break;
        events.push(...decoder.push(buffer.subarray(0, n)));
      }
      assert.deepEqual(events[0], { kind: "close", code: 1002, reason: "unmasked client frame" });
      await done;
    } finally {
      p.close();
    }
  }
});
