import assert from "node:assert/strict";
import { StreamLoadWatch } from "./stream_overload.ts";

/** Waits (bounded) until `done()`; the watch's hold ends on its own 10 ms ticks. */
async function until(done: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  while (!done() && performance.now() < end) await new Promise((r) => setTimeout(r, 10));
  return done();
}

Deno.test("stream load: a short read backlog sheds nothing; a sustained one sheds until reads calm down", async () => {
  const watch = new StreamLoadWatch(10_000); // a lag bound never reached: only reads count
  try {
    const t = performance.now();
    watch.readBacklog(t - 100, t);
    assert.equal(watch.behind(), false, "a backlog of 100 ms is a stall, not overload");
    watch.readBacklog(t - 300, t);
    assert.equal(watch.behind(), true, "a backlog of 300 ms sheds new work");
    // Each further full read while shedding extends the hold; none for a while ends it.
    watch.readBacklog(performance.now(), performance.now());
    assert.equal(watch.behind(), true);
    assert.ok(await until(() => !watch.behind(), 5000), "shedding ends once no read is full");
  } finally {
    watch.close();
  }
});

Deno.test("stream load: a lag bound of 0 never sheds", () => {
  const watch = new StreamLoadWatch(0);
  const t = performance.now();
  watch.readBacklog(t - 1000, t);
  assert.equal(watch.behind(), false);
  assert.equal(watch.reads(), undefined);
  watch.close();
});
