/**
 * @module Latency of a record crossing threads through src/workers/ring.ts and back (main
 * thread → worker → main thread, as a TCP message read in one worker and handled in
 * another crosses twice), under steady traffic: one record every `--every-ms=1` ms for
 * `--duration=MS` (3000), then sparse traffic (one every 20 ms). Both readers use the loop
 * shape of src/workers (drain, yield a turn, or wait); per tree (`--root=DIR`, repeatable;
 * default this checkout) prints round-trip p50/p90/p99. Not part of the product.
 */
import { arg, argAll } from "./support/args.ts";

const ROOTS = argAll("root").length ? argAll("root") : [new URL("../", import.meta.url).pathname];
const DURATION = Number(arg("duration") ?? 3000);

async function roundTrips(root: string, everyMs: number): Promise<number[]> {
  const ring = await import(`${root}/src/workers/ring.ts`);
  const nextTurn: () => Promise<void> = ring.nextTurn ??
    (() => new Promise((resolve) => setTimeout(resolve, 0)));
  const out = ring.RingWriter.create();
  const back = ring.RingWriter.create();
  const reader = new ring.RingReader(back.buffer);
  const worker = new Worker(new URL("./support/ring_hop_worker.ts", import.meta.url).href, {
    type: "module",
  });
  worker.postMessage({ root, toWorker: out.buffer, fromWorker: back.buffer });
  const rtts: number[] = [];
  let running = true;
  const record = (r: { message: { t: number } }) => rtts.push(performance.now() - r.message.t);
  const loop = (async () => {
    while (running) {
      if (reader.drain(record)) await nextTurn();
      else await reader.wait(100);
    }
  })();
  await new Promise((r) => setTimeout(r, 300)); // the worker starts
  const timer = setInterval(
    () => out.writer.write({ kind: "message", message: { t: performance.now() } }),
    everyMs,
  );
  await new Promise((r) => setTimeout(r, DURATION));
  clearInterval(timer);
  await new Promise((r) => setTimeout(r, 300));
  running = false;
  await loop;
  worker.terminate();
  return rtts.sort((a, b) => a - b);
}

for (const everyMs of [Number(arg("every-ms") ?? 1), 20]) {
  for (const root of ROOTS) {
    const rtts = await roundTrips(root, everyMs);
    const q = (p: number) => rtts[Math.floor(p * (rtts.length - 1))].toFixed(2);
    console.log(
      `${root.padEnd(28)} one every ${everyMs} ms: ${rtts.length} round trips, ` +
        `p50 ${q(0.5)} p90 ${q(0.9)} p99 ${q(0.99)} ms`,
    );
  }
}
