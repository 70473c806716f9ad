import assert from "node:assert/strict";
import { LingerQueue } from "./linger.ts";
import { ManualClock, TimerWheel } from "./timers.ts";

function setup(delay: number) {
  const clock = new ManualClock();
  const wheel = new TimerWheel({ clock });
  const ended: string[] = [];
  const queue = new LingerQueue(wheel, () => clock.now(), delay, "Completed", (e) => {
    throw e;
  });
  const item = (name: string) => ({
    lingerEnded: (state: string) => ended.push(`${name}:${state}`),
  });
  return { clock, wheel, ended, queue, item };
}

Deno.test("linger: each item ends its delay after it was added, in order, on one timer", () => {
  const { clock, wheel, ended, queue, item } = setup(1000);
  queue.add(item("a"));
  clock.advance(300);
  queue.add(item("b"));
  queue.add(item("c"));
  assert.equal(wheel.size, 1, "one timer for the whole queue");
  clock.advance(699);
  assert.deepEqual(ended, []);
  clock.advance(1);
  assert.deepEqual(ended, ["a:Completed"]);
  clock.advance(300);
  assert.deepEqual(ended, ["a:Completed", "b:Completed", "c:Completed"]);
  assert.equal(queue.size, 0);
  assert.equal(wheel.size, 0);
});

Deno.test("linger: thousands of items (the arrays compact as they drain); clear forgets", () => {
  const { clock, ended, queue, item } = setup(100);
  for (let i = 0; i < 3000; i++) {
    queue.add(item(String(i)));
    clock.advance(1);
  }
  // Item i was added at i ms: those due by 3000 ms (i ≤ 2900) have ended.
  assert.equal(ended.length, 2901);
  assert.equal(ended.at(-1), "2900:Completed");
  assert.equal(queue.size, 99);
  queue.clear();
  clock.advance(1000);
  assert.equal(ended.length, 2901);
});

Deno.test("linger: an item added while the queue fires is timed from then", () => {
  const { clock, ended, queue } = setup(50);
  const again = { lingerEnded: () => queue.add({ lingerEnded: () => ended.push("second") }) };
  queue.add(again);
  clock.advance(50);
  assert.deepEqual(ended, []);
  clock.advance(50);
  assert.deepEqual(ended, ["second"]);
});
