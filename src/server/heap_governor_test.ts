import assert from "node:assert/strict";
import {
  DUTY,
  exposedGc,
  HeapGovernor,
  MAX_BACKOFF_MS,
  QUIET_MS,
  readHeap,
  startHeapGovernor,
} from "./heap_governor.ts";

const MB = 1024 * 1024;

/** A heap the test sets, whose collection leaves `live` of it (all old), on a test clock. */
function fakeHeap(live: number, collectMs = 20) {
  const state = { used: live, old: live, live, clock: 0 };
  const governor = new HeapGovernor(() => {
    state.clock += collectMs;
    state.used = state.old = state.live;
  }, {
    budgetBytes: 48 * MB,
    heap: () => ({ used: state.used, old: state.old }),
    now: () => state.clock,
  });
  return { state, governor };
}

Deno.test("heap governor: past the budget with no mark-compact for a while, it collects", () => {
  const { state, governor } = fakeHeap(20 * MB);
  state.clock = QUIET_MS;
  state.used = state.old = 48 * MB;
  assert.ok(!governor.check(), "at the budget: no collection");
  state.used = state.old = 49 * MB;
  assert.ok(governor.check());
  assert.equal(state.used, 20 * MB);
  assert.equal(governor.collections, 1);
});

Deno.test("heap governor: a load V8 compacts on its own is left to V8", () => {
  const { state, governor } = fakeHeap(20 * MB);
  // Old space grows past the budget and falls back every 2 s: V8's own mark-compacts.
  for (let t = 0; t < 60_000; t += 250) {
    state.clock = t;
    state.old = (20 + (t % 2000) / 25) * MB;
    state.used = state.old + 4 * MB;
    assert.ok(!governor.check(), `collected at ${t} ms`);
  }
  // They stop (old space keeps growing): one collection QUIET_MS after the last.
  let collectedAt = NaN;
  for (let t = 60_000; t < 80_000 && Number.isNaN(collectedAt); t += 250) {
    state.clock = t;
    state.old += MB / 4;
    state.used = state.old + 4 * MB;
    if (governor.check()) collectedAt = t;
  }
  assert.equal(collectedAt, 58_000 + QUIET_MS);
});

Deno.test("heap governor: forced collections take at most DUTY of the time", () => {
  const { state, governor } = fakeHeap(20 * MB, 100);
  state.clock = QUIET_MS;
  state.used = 60 * MB;
  assert.ok(governor.check());
  state.used = 60 * MB;
  state.clock += 100 / DUTY - 1;
  assert.ok(!governor.check(), "too soon after a 100 ms collection");
  state.clock += 1;
  assert.ok(governor.check());
});

Deno.test("heap governor: over a live heap past the budget it backs off", () => {
  const { state, governor } = fakeHeap(80 * MB, 10);
  state.clock = QUIET_MS;
  state.used = 100 * MB;
  assert.ok(governor.check(), "frees 20 %: of little use");
  const waits = [];
  for (let k = 0; k < 8; k++) {
    const from = state.clock;
    state.used = 100 * MB;
    while (!governor.check()) state.clock += 100;
    waits.push(state.clock - 10 - from);
  }
  assert.deepEqual(waits, [QUIET_MS, QUIET_MS, 4000, 8000, 16000, MAX_BACKOFF_MS, 32000, 32000]);
  // One that frees much (what was live is gone) ends the back-off.
  state.live = 10 * MB;
  state.clock += MAX_BACKOFF_MS;
  state.used = 100 * MB;
  assert.ok(governor.check());
  state.used = 49 * MB;
  state.clock += QUIET_MS;
  assert.ok(governor.check());
});

Deno.test("heap governor: reads this isolate's heap; off without an exposed gc", () => {
  const { used, old } = readHeap();
  assert.ok(used > old && old > 0);
  const stop = startHeapGovernor({ collect: undefined });
  stop();
  assert.equal(
    exposedGc() === undefined,
    typeof (globalThis as { gc?: unknown }).gc !== "function",
  );
});
