import assert from "node:assert/strict";
import { directDescriptor, sendDirect } from "./stream_direct.ts";
import { queuedWriteBytes, WriteQueue } from "./write_queue.ts";
import { pair } from "./fixtures_test.ts";

async function readAll(conn: Deno.Conn, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const n = await conn.read(out.subarray(got));
    if (n === null) break;
    got += n;
  }
  return out.subarray(0, got);
}

Deno.test("direct writes: an accepted plain-TCP connection's descriptor reaches its peer; dialled and TLS ones are not written directly", async () => {
  const p = await pair();
  try {
    const fd = directDescriptor(p.accepted, false);
    assert.equal(typeof fd, "number");
    assert.equal(directDescriptor(p.accepted, true), undefined, "TLS must encrypt its bytes");
    assert.equal(directDescriptor(p.dialled, false), undefined, "Deno keeps no descriptor");
    const bytes = new TextEncoder().encode("OPTIONS sip:a@b SIP/2.0\r\n\r\n");
    assert.equal(sendDirect(fd!, bytes), bytes.length);
    assert.deepEqual(await readAll(p.dialled, bytes.length), bytes);
  } finally {
    p.close();
  }
});

Deno.test("direct writes: a peer that does not read gets the rest through the op, whole and in order", async () => {
  const p = await pair();
  try {
    const queue = new WriteQueue(
      p.accepted,
      () => assert.fail("write failed"),
      directDescriptor(p.accepted, false),
    );
    // Far more than the socket buffers hold: direct sends fill them, the op waits for room.
    const chunks = Array.from({ length: 400 }, (_, i) => new Uint8Array(20_000).fill(i % 251));
    const sent = Promise.all(chunks.map((c, i) => {
      if (i % 7 === 0) queue.hold();
      const done = queue.write(c);
      if (i % 7 === 3) queue.release();
      return done;
    }));
    queue.release();
    assert.ok(queuedWriteBytes() > 0, "the peer reads nothing yet: bytes wait");
    const received = await readAll(p.dialled, 400 * 20_000);
    await sent;
    await queue.drained();
    assert.equal(received.length, 400 * 20_000);
    for (let i = 0; i < 400; i++) {
      const part = received.subarray(i * 20_000, (i + 1) * 20_000);
      assert.ok(part.every((b) => b === i % 251), `chunk ${i} out of order or corrupted`);
    }
    assert.equal(queuedWriteBytes(), 0);
  } finally {
    p.close();
  }
});

Deno.test("direct writes: a write after the connection closed fails through the op and reports once", async () => {
  const p = await pair();
  let failed = 0;
  const queue = new WriteQueue(p.accepted, () => failed++, directDescriptor(p.accepted, false));
  queue.close();
  p.accepted.close();
  // No direct send once closed (the number may be another socket's): the op reports it.
  await assert.rejects(queue.write(new Uint8Array([1, 2, 3])));
  await queue.drained();
  assert.equal(failed, 1);
  p.close();
});
