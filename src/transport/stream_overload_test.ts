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
    // Right after, a new backlog sheds again sooner: the offered rate is still past the limit.
    const u = performance.now();
    watch.readBacklog(u - 30, u);
    assert.equal(watch.behind(), false, "a 30 ms backlog after the hold is still not overload");
    watch.readBacklog(u - 60, u);
    assert.equal(watch.behind(), true, "a 60 ms backlog within a second of the hold sheds");
    assert.ok(await until(() => !watch.behind(), 5000));
  } finally {
    watch.close();
  }
});

Deno.test("stream load: a second after the last hold, a backlog must last 250 ms again", async () => {
  const watch = new StreamLoadWatch(10_000);
  try {
    const t = performance.now();
    watch.readBacklog(t - 300, t);
    assert.ok(await until(() => !watch.behind(), 5000));
    await new Promise((r) => setTimeout(r, 1100));
    const u = performance.now();
    watch.readBacklog(u - 100, u);
    assert.equal(watch.behind(), false);
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

Deno.test("stream load: the tick runs while streams read and stops once they are quiet", async () => {
  // Before, every thread ticked 100 times a second from the start, reads or not.
  const watch = new StreamLoadWatch(20);
  assert.equal(watch.ticking, false, "no read yet: no tick");
  const read = watch.reads()!;
  const spin = (ms: number) => {
    const end = performance.now() + ms;
    while (performance.now() < end) { /* a busy turn */ }
  };
  // Turns that run long, each after a read: the tick comes 50 ms late, and the turn after it
  // runs past the next one. On a loaded machine a tick may also come on time between two
  // turns (the process descheduled in the wait, or the interval catching up on the late
  // tick), which clears lateness: the next long turn shows it again. Bounded: 20 rounds.
  let seen = false;
  for (let round = 0; round < 20 && !seen; round++) {
    read(false);
    await new Promise((r) => setTimeout(r, 15));
    spin(60); // the next tick comes 50 ms late
    await new Promise((r) => setTimeout(r, 0));
    spin(40);
    seen = watch.behind();
  }
  assert.equal(seen, true, "a read started the tick: lateness is seen");
  assert.ok(await until(() => !watch.behind(), 5000), "on time again");
  assert.ok(await until(() => !watch.ticking, 5000), "ten ticks with no read stop it");
  watch.close();
});
