import assert from "node:assert/strict";
import {
  MemoryGuard,
  OVER_COLLECT_MS,
  readRss,
  RESUME_SHARE,
  TRIM_EVERY_MS,
  TRIM_EXCESS,
  watchMemory,
} from "./memory_guard.ts";

const MB = 1024 * 1024;

/**
 * A guard on readings the test sets, with a trim that frees `trimmable` of the native part and
 * a collection that frees `garbage` of V8's heap.
 */
function fakeMemory(budget: number) {
  const state = {
    rss: 100 * MB,
    heap: 40 * MB,
    trimmable: 0,
    garbage: 0,
    clock: 0,
    trims: 0,
    collections: 0,
  };
  const guard = new MemoryGuard(budget, {
    rss: () => state.rss,
    heap: () => state.heap,
    trim: () => {
      state.trims++;
      state.rss -= state.trimmable;
      state.trimmable = 0;
    },
    collect: () => {
      state.collections++;
      state.rss -= state.garbage;
      state.heap -= state.garbage;
      state.garbage = 0;
    },
    now: () => state.clock,
  });
  return { state, guard };
}

Deno.test("memory guard: past the budget it sheds, until back under 90 % of it", () => {
  const { state, guard } = fakeMemory(150 * MB);
  guard.check();
  assert.equal(guard.over, false);
  state.rss = 150 * MB;
  guard.check();
  assert.equal(guard.over, false, "at the budget: not past it");
  state.rss = 151 * MB;
  guard.check();
  assert.equal(guard.over, true);
  state.rss = 140 * MB; // under the budget, above 90 % of it: still shedding
  guard.check();
  assert.equal(guard.over, true);
  state.rss = 150 * MB * RESUME_SHARE;
  guard.check();
  assert.equal(guard.over, false);
});

Deno.test("memory guard: past the budget it collects, and stops shedding once that freed enough", () => {
  const { state, guard } = fakeMemory(150 * MB);
  state.rss = 200 * MB;
  state.heap = 120 * MB;
  state.garbage = 10 * MB; // not enough to go back under 135 MB
  guard.check();
  assert.equal(state.collections, 1);
  assert.equal(guard.over, true);
  state.garbage = 60 * MB; // what was live has died: the next collection frees it
  state.clock += OVER_COLLECT_MS - 1;
  guard.check();
  assert.equal(state.collections, 1, "not again so soon");
  assert.equal(guard.over, true);
  state.clock += 1;
  guard.check();
  assert.equal(state.collections, 2);
  assert.equal(guard.over, false, "130 MB after the collection");
  state.clock += OVER_COLLECT_MS;
  guard.check();
  assert.equal(state.collections, 2, "under the budget: V8 collects on its own");
});

Deno.test("memory guard: a budget of 0 never sheds", () => {
  const { state, guard } = fakeMemory(0);
  state.rss = 4096 * MB;
  guard.check();
  assert.equal(guard.over, false);
});

Deno.test("memory guard: trims malloc once native memory grew, then not again at once", () => {
  const { state, guard } = fakeMemory(0);
  guard.check(); // native 60 MB: the least seen
  state.rss += TRIM_EXCESS - MB; // V8's heap unchanged: the native part grew
  guard.check();
  assert.equal(state.trims, 0, "grown less than TRIM_EXCESS");
  state.rss += 2 * MB;
  state.trimmable = 20 * MB;
  guard.check();
  assert.equal(state.trims, 1);
  // What the trim left (60 + 13 MB native) is the new reference, and the next waits too.
  state.rss += TRIM_EXCESS;
  state.trimmable = 30 * MB;
  state.clock += TRIM_EVERY_MS - 1;
  guard.check();
  assert.equal(state.trims, 1, "too soon after the last trim");
  state.clock += 1;
  guard.check();
  assert.equal(state.trims, 2);
  assert.equal(guard.trims, 2);
});

Deno.test("memory guard: V8's heap growing is not a reason to trim", () => {
  const { state, guard } = fakeMemory(0);
  guard.check();
  state.rss += 100 * MB;
  state.heap += 100 * MB;
  guard.check();
  assert.equal(state.trims, 0);
});

Deno.test("memory guard: reads this process's RSS", () => {
  const rss = readRss();
  const reported = Deno.memoryUsage().rss;
  assert.ok(Math.abs(rss - reported) < 16 * MB, `${rss} vs ${reported}`);
});

Deno.test("memory guard: on its timer, with a budget below the RSS, it sheds at once", () => {
  const guard = new MemoryGuard(1, { trim: undefined });
  const stop = watchMemory(guard);
  try {
    assert.equal(guard.over, true);
  } finally {
    stop();
  }
});
