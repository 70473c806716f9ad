/**
 * @module The worker side of bench/ring_hop.ts: reads records from the main thread's ring
 * with the loop shape of src/workers/worker_main.ts (drain, yield a turn, or wait) and
 * writes each straight back on its own ring. The tree's `nextTurn` yields when it has one;
 * older trees yielded with `setTimeout(0)`.
 */
/// <reference lib="deno.worker" />

self.onmessage = async (e: MessageEvent) => {
  const { root, toWorker, fromWorker } = e.data;
  const ring = await import(`${root}/src/workers/ring.ts`);
  const nextTurn: () => Promise<void> = ring.nextTurn ??
    (() => new Promise((resolve) => setTimeout(resolve, 0)));
  const reader = new ring.RingReader(toWorker);
  const writer = new ring.RingWriter(fromWorker);
  const echo = (record: unknown) => writer.write(record);
  for (;;) {
    if (reader.drain(echo)) await nextTurn();
    else await reader.wait();
  }
};
