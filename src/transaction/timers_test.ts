import assert from "node:assert/strict";
import { ManualClock, timerValues, TimerWheel } from "./timers.ts";

Deno.test("wheel: a timer fires at its due tick, not before", () => {
  const clock = new ManualClock();
  const wheel = new TimerWheel({ clock, tickMs: 10 });
  const fired: number[] = [];
  wheel.schedule(500, () => fired.push(clock.now()));
  clock.advance(499);
  assert.deepEqual(fired, []);
  clock.advance(1);
  assert.deepEqual(fired, [500]);
  assert.equal(wheel.size, 0);
});

Deno.test("wheel: due times round up to the next tick", () => {
  const clock = new ManualClock(3);
  const wheel = new TimerWheel({ clock, tickMs: 10 });
  const fired: number[] = [];
  wheel.schedule(5, () => fired.push(clock.now())); // due 8 → tick 10
  wheel.schedule(0, () => fired.push(clock.now())); // never synchronous: next tick
  assert.deepEqual(fired, []);
  clock.advance(20);
  assert.deepEqual(fired, [10, 10]);
});

Deno.test("wheel: timers longer than a revolution wait for their round", () => {
  const clock = new ManualClock();
  const wheel = new TimerWheel({ clock, tickMs: 10, slots: 8 }); // 80 ms per revolution
  const fired: string[] = [];
  wheel.schedule(30, () => fired.push(`a@${clock.now()}`));
  wheel.schedule(110, () => fired.push(`b@${clock.now()}`)); // same slot as 30, next round
  wheel.schedule(1000, () => fired.push(`c@${clock.now()}`));
  clock.advance(100);
  assert.deepEqual(fired, ["a@30"]);
  clock.advance(2000);
  assert.deepEqual(fired, ["a@30", "b@110", "c@1000"]);
});

Deno.test("wheel: cancel is O(1) and idempotent; size tracks live timers", () => {
  const clock = new ManualClock();
  const wheel = new TimerWheel({ clock });
  let fired = 0;
  const handles = Array.from({ length: 100 }, () => wheel.schedule(100, () => fired++));
  assert.equal(wheel.size, 100);
  for (let i = 0; i < 100; i += 2) wheel.cancel(handles[i]);
  wheel.cancel(handles[0]);
  wheel.cancel(undefined);
  assert.equal(wheel.size, 50);
  clock.advance(100);
  assert.equal(fired, 50);
  assert.equal(wheel.size, 0);
});

Deno.test("wheel: a firing timer may cancel a sibling in the same slot and schedule new ones", () => {
  const clock = new ManualClock();
  const wheel = new TimerWheel({ clock, tickMs: 10 });
  const fired: string[] = [];
  // a and b share a slot and cancel each other: whichever runs first, only one runs.
  const a = wheel.schedule(50, () => {
    fired.push("a");
    wheel.cancel(b);
    wheel.schedule(20, () => fired.push(`a2@${clock.now()}`));
  });
  const b = wheel.schedule(50, () => {
    fired.push("b");
    wheel.cancel(a);
  });
  const c = wheel.schedule(50, () => fired.push("c"));
  assert.ok(c);
  clock.advance(100);
  assert.equal(fired.filter((f) => f === "a" || f === "b").length, 1);
  assert.ok(fired.includes("c"));
  if (fired.includes("a")) assert.ok(fired.includes("a2@70"));
  assert.equal(wheel.size, 0);
});

Deno.test("wheel: an exception in one callback does not stop the others", () => {
  const clock = new ManualClock();
  const errors: unknown[] = [];
  const wheel = new TimerWheel({ clock, onError: (e) => errors.push(e) });
  let ran = 0;
  wheel.schedule(10, () => {
    throw new Error("boom");
  });
  wheel.schedule(10, () => ran++);
  wheel.schedule(20, () => ran++);
  clock.advance(50);
  assert.equal(ran, 2);
  assert.equal(errors.length, 1);
});

Deno.test("wheel: close cancels everything and refuses new timers", () => {
  const clock = new ManualClock();
  const wheel = new TimerWheel({ clock });
  let fired = 0;
  wheel.schedule(10, () => fired++);
  wheel.close();
  clock.advance(100);
  assert.equal(fired, 0);
  assert.equal(wheel.size, 0);
  assert.throws(() => wheel.schedule(10, () => {}), /closed/);
});

Deno.test("wheel: real time drives timers with one setTimeout", async () => {
  const wheel = new TimerWheel({ tickMs: 5 });
  const start = performance.now();
  const done = Promise.withResolvers<number>();
  wheel.schedule(30, () => done.resolve(performance.now() - start));
  const guard = setTimeout(() => done.reject(new Error("wheel timer never fired")), 2000);
  const elapsed = await done.promise;
  clearTimeout(guard);
  assert.ok(elapsed >= 29, `fired after ${elapsed} ms`);
  // A cancelled timer never fires and the wheel disarms when empty.
  let late = false;
  const h = wheel.schedule(10, () => late = true);
  wheel.cancel(h);
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(late, false);
  wheel.close();
});

Deno.test("timer values follow RFC 3261 Table 4", () => {
  const t = timerValues(500, 4000, 5000);
  assert.deepEqual(
    [t.a, t.b, t.d, t.e, t.f, t.g, t.h, t.i, t.j, t.k, t.l, t.m],
    [500, 32000, 32000, 500, 32000, 500, 32000, 5000, 32000, 5000, 32000, 32000],
  );
  // Shrunk T1 (integration tests): 64*T1 scales, D keeps its 32 s floor unless configured.
  const small = timerValues(10, 40, 50, 640);
  assert.equal(small.b, 640);
  assert.equal(small.d, 640);
  assert.throws(() => timerValues(0, 4000, 5000), RangeError);
  assert.throws(() => timerValues(500, 100, 5000), RangeError);
});
