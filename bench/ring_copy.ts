/**
 * @module In-thread cost of one UDP datagram record through src/workers/ring.ts: written
 * (as the main thread hands a datagram to a worker) and read back (as the worker does), a
 * 500-byte datagram from 127.0.0.1, drained every 8 records, no thread wake-up involved.
 * Per tree (`--root=DIR`, repeatable; default this checkout), `--rounds=N` interleaved.
 * Not part of the product.
 */
import { arg, argAll } from "./support/args.ts";
import { usPerRecord, WARM_UP } from "./support/ring_records.ts";

const ROOTS = argAll("root").length ? argAll("root") : [new URL("../", import.meta.url).pathname];
const ROUNDS = Number(arg("rounds") ?? 3);
const RECORDS = 400_000;

const bytes = new Uint8Array(500).fill(65);
for (let round = 0; round < ROUNDS; round++) {
  for (const root of ROOTS) {
    const ring = await import(`${root}/src/workers/ring.ts`);
    const { writer, buffer } = ring.RingWriter.create();
    const reader = new ring.RingReader(buffer);
    let read = 0;
    const handle = (r: { bytes: Uint8Array }) => read += r.bytes.length;
    const record = { kind: "datagram", host: "127.0.0.1", port: 5060, bytes };
    const us = usPerRecord(() => writer.write(record, false), () => reader.drain(handle), RECORDS);
    if (read !== (RECORDS + WARM_UP) * bytes.length) throw new Error("records lost");
    console.log(`${root.padEnd(28)} datagram record written and read: ${us.toFixed(2)} µs CPU`);
  }
}
