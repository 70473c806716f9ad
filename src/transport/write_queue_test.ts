import assert from "node:assert/strict";
import { queuedWriteBytes, WriteQueue } from "./write_queue.ts";

/**
 * A connection whose writes take at most `max` bytes and settle a timer later, reading the
 * bytes only then (as the kernel would while the op is in flight): a buffer reused too early
 * shows up as wrong bytes.
 */
function slowConn(max: number): { conn: Deno.Conn; out: number[]; writes: () => number } {
  const out: number[] = [];
  let writes = 0;
  const conn = {
    write: (bytes: Uint8Array) =>
      new Promise<number>((resolve) => {
        writes++;
        setTimeout(() => {
          const n = Math.min(max, bytes.length);
          out.push(...bytes.subarray(0, n));
          resolve(n);
        }, 0);
      }),
  } as unknown as Deno.Conn;
  return { conn, out, writes: () => writes };
}

Deno.test("write queue: batches on several connections in flight at once keep their bytes and order", async () => {
  const conns = [slowConn(700), slowConn(5000)];
  const queues = conns.map((c) => new WriteQueue(c.conn, () => assert.fail("write failed")));
  const sent: number[][] = [[], []];
  const pending: Promise<void>[] = [];
  for (let turn = 0; turn < 6; turn++) {
    // One turn's answers on each connection: joined into one write per connection.
    for (let q = 0; q < 2; q++) {
      for (let m = 0; m < 5; m++) {
        const bytes = new Uint8Array(300 + m).fill((turn * 10 + m + q * 100) % 251);
        sent[q].push(...bytes);
        pending.push(queues[q].write(bytes));
      }
    }
    await new Promise((r) => setTimeout(r, 0)); // the next turn queues while writes are in flight
  }
  await Promise.all(pending);
  await Promise.all(queues.map((q) => q.drained()));
  assert.deepEqual(conns[0].out, sent[0]);
  assert.deepEqual(conns[1].out, sent[1]);
  // Batched: fewer writes than messages even where every write is partial.
  assert.ok(conns[1].writes() < 30, `${conns[1].writes()} writes for 30 messages`);
  assert.equal(queuedWriteBytes(), 0);
});

Deno.test("write queue: queued bytes are copied, so the caller's buffer (a shared slab) is not kept", async () => {
  const c = slowConn(100_000);
  const queue = new WriteQueue(c.conn, () => assert.fail("write failed"));
  const slab = new Uint8Array(1000);
  const sent: number[] = [];
  const pending: Promise<void>[] = [];
  for (let m = 0; m < 3; m++) {
    // Each message in the same buffer, overwritten right after it is queued.
    slab.fill(m + 1, 0, 400);
    sent.push(...slab.subarray(0, 400));
    pending.push(queue.write(slab.subarray(0, 400)));
    if (m === 0) await new Promise((r) => setTimeout(r, 0)); // the first write in flight
  }
  slab.fill(0);
  await Promise.all(pending);
  assert.deepEqual(c.out, sent);
  // More than a scratch buffer's worth pending at once still goes out whole and in order.
  const big = Array.from({ length: 5 }, (_, i) => new Uint8Array(30_000).fill(i + 10));
  await Promise.all(big.map((b) => queue.write(b)));
  assert.deepEqual(c.out.slice(sent.length), big.flatMap((b) => [...b]));
  assert.equal(queuedWriteBytes(), 0);
});
