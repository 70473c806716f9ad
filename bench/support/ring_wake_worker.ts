/**
 * @module The reading side of bench/ring_wake.ts: reads the main thread's ring the way the
 * tree's workers do (its `readLoop` when it has one; older trees drained, yielded a turn, or
 * waited at most `LAZY_MS`) and counts records.
 */
/// <reference lib="deno.worker" />

self.onmessage = async (e: MessageEvent) => {
  const { root, ring: buffer } = e.data;
  const ring = await import(`${root}/src/workers/ring.ts`);
  const reader = new ring.RingReader(buffer);
  let records = 0;
  const drain = () => reader.drain(() => records++);
  if (ring.readLoop) ring.readLoop(reader, drain);
  else {
    for (;;) {
      if (drain()) await ring.nextTurn();
      else await reader.wait(ring.LAZY_MS);
    }
  }
};
