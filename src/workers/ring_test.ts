import assert from "node:assert/strict";
import { readLoop, RING_BYTES, RingReader, type RingRecord, RingWriter } from "./ring.ts";
import type { ToWorker } from "./protocol.ts";

Deno.test("ring: datagrams and messages come out in order with their exact bytes, across wrap-arounds", async () => {
  const { writer, buffer } = RingWriter.create<ToWorker>();
  const reader = new RingReader<ToWorker>(buffer);
  const got: RingRecord<ToWorker>[] = [];
  const sent: RingRecord<ToWorker>[] = [];
  // Enough bytes to go round the ring several times, with sizes that are not multiples of 4.
  let total = 0;
  for (let i = 0; total < 3 * RING_BYTES; i++) {
    const bytes = new Uint8Array(1 + (i * 7919) % 3000).fill(i % 251);
    const record: RingRecord<ToWorker> = i % 3 === 0
      ? {
        kind: "message",
        message: {
          t: "sip",
          to: 1,
          bytes,
          flow: {
            id: `tcp:n.0.r-${i}`,
            transport: "tcp",
            local: { host: "127.0.0.1", port: 5060 },
            remote: { host: "127.0.0.1", port: 40000 + i % 1000 },
            reliable: true,
            secure: false,
          },
        },
      }
      : {
        kind: "datagram",
        // Hosts of one length that differ, and another length (the reader keeps the last).
        host: i % 2 ? (i % 4 === 1 ? "127.0.0.1" : "127.0.0.2") : "::1",
        port: 1024 + i % 60000,
        bytes,
      };
    writer.write(record);
    sent.push(record);
    total += bytes.length;
    if (i % 50 === 0) reader.drain((r) => got.push(r));
  }
  // What did not fit waits in the writer's backlog and is written as the reader makes room.
  for (let i = 0; i < 200 && got.length < sent.length; i++) {
    reader.drain((r) => got.push(r));
    await new Promise((r) => setTimeout(r, 2));
  }
  writer.close();
  assert.equal(got.length, sent.length);
  assert.deepEqual(got, sent);
});

Deno.test("ring: a sleeping reader is woken by the next write", async () => {
  const { writer, buffer } = RingWriter.create<ToWorker>();
  const reader = new RingReader<ToWorker>(buffer);
  const woke = reader.wait();
  // The wake-up leaves once this run of JavaScript ends (a microtask); a thread's loop is
  // kept alive by its sockets and timers, as by this one here.
  const alive = setTimeout(() => {}, 10_000);
  writer.write({ kind: "message", message: { t: "accounts" } });
  await woke;
  clearTimeout(alive);
  const got: RingRecord<ToWorker>[] = [];
  assert.ok(reader.drain((r) => got.push(r)));
  assert.deepEqual(got, [{ kind: "message", message: { t: "accounts" } }]);
  writer.close();
});

Deno.test("ring: backlogged while records wait in memory for room, not after the reader caught up", async () => {
  const buffer = new SharedArrayBuffer(16 + 4096);
  const writer = new RingWriter<ToWorker>(buffer);
  const reader = new RingReader<ToWorker>(buffer);
  const datagram = (i: number): RingRecord<ToWorker> => ({
    kind: "datagram",
    host: "127.0.0.1",
    port: 5060,
    bytes: new Uint8Array(500).fill(i),
  });
  writer.write(datagram(0));
  assert.equal(writer.backlogged, false, "room in the ring");
  for (let i = 1; i < 20; i++) writer.write(datagram(i));
  assert.equal(writer.backlogged, true, "a 4 KiB ring holds fewer than 20 records of 500 bytes");
  const got: RingRecord<ToWorker>[] = [];
  for (let i = 0; i < 200 && (got.length < 20 || writer.backlogged); i++) {
    reader.drain((r) => got.push(r));
    await new Promise((r) => setTimeout(r, 2));
  }
  writer.close();
  assert.equal(got.length, 20);
  assert.equal(writer.backlogged, false);
});

Deno.test("ring: readLoop applies records written without a wake-up (the writer wakes it LAZY_MS later), a woken one at once, and stops", async () => {
  const { writer, buffer } = RingWriter.create<ToWorker>();
  const reader = new RingReader<ToWorker>(buffer);
  const got: ToWorker["t"][] = [];
  const drain = () =>
    reader.drain((r) => {
      if (r.kind === "message") got.push(r.message.t);
    });
  const stop = readLoop(reader, drain);
  try {
    // The loop sleeps with no timeout: only the writer's lazy wake-up can find this one.
    writer.write({ kind: "message", message: { t: "accounts" } }, false);
    await waitFor(() => got.length === 1, "the record written without a wake-up applied");
    writer.write({ kind: "message", message: { t: "websockets", enabled: true } });
    await waitFor(() => got.length === 2, "the record that wakes applied");
    assert.deepEqual(got, ["accounts", "websockets"]);
  } finally {
    stop();
    writer.close();
  }
  // Stopped: nothing written later is applied.
  writer.write({ kind: "message", message: { t: "accounts" } });
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(got.length, 2);
});

/** Resolves once `done()` holds (checked every 5 ms); rejects after 10 s. */
async function waitFor(done: () => boolean, what: string): Promise<void> {
  for (const end = Date.now() + 10_000; !done(); await new Promise((r) => setTimeout(r, 5))) {
    if (Date.now() > end) throw new Error(`not within 10 s: ${what}`);
  }
}
