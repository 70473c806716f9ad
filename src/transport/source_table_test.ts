import assert from "node:assert/strict";
import { SourceTable } from "./source_table.ts";
import { OVER_ANSWER, OVER_DROP, WITHIN } from "./rate_limiter.ts";

Deno.test("source table: a window per address, counted through any attached view", () => {
  const main = new SourceTable(100);
  const worker = new SourceTable(main.buffer);
  assert.equal(worker.owner, false);
  const verdicts = [];
  for (let i = 0; i < 6; i++) verdicts.push((i % 2 ? worker : main).hit("192.0.2.1", 1000, 2));
  assert.deepEqual(verdicts, [WITHIN, WITHIN, OVER_ANSWER, OVER_ANSWER, OVER_DROP, OVER_DROP]);
  assert.equal(main.hit("192.0.2.2", 1000, 2), WITHIN, "another address has its own window");
  assert.equal(worker.retryAfter("192.0.2.1", 1500), 1);
  assert.equal(main.hit("192.0.2.1", 2000, 2), WITHIN, "a new window a second later");
});

Deno.test("source table: connections per address and in all; the sweep keeps live entries findable", () => {
  const main = new SourceTable(1000);
  const worker = new SourceTable(main.buffer);
  for (let i = 0; i < 700; i++) main.hit(`10.0.${i >> 8}.${i & 255}`, 0, 5);
  main.opened("10.0.0.7");
  worker.opened("10.0.0.7");
  worker.opened("2001:db8::1");
  assert.equal(main.connections("10.0.0.7"), 2);
  assert.equal(main.open, 3);
  for (let i = 0; i < 350; i++) main.hit(`10.0.${i >> 8}.${i & 255}`, 2500, 5);
  main.sweep(4000); // the first 350 were hit at 2500: kept; the rest are stale
  assert.equal(main.size, 350 + 1, "stale windows freed; open connections kept");
  for (let i = 0; i < 350; i++) {
    assert.equal(main.hit(`10.0.${i >> 8}.${i & 255}`, 2600, 1), OVER_ANSWER, `entry ${i} kept`);
  }
  assert.equal(worker.connections("10.0.0.7"), 2);
  worker.closed("10.0.0.7");
  main.closed("2001:db8::1");
  assert.equal(main.connections("10.0.0.7"), 1);
  assert.equal(main.open, 1);
});

Deno.test("source table: full, a new address is not counted (fail open) until the sweep", () => {
  const t = new SourceTable(12); // 16 slots, 12 used at most
  for (let i = 0; i < 12; i++) t.hit(`198.51.100.${i}`, 0, 1);
  assert.equal(t.size, 12);
  for (let i = 0; i < 3; i++) assert.equal(t.hit("203.0.113.1", 0, 1), WITHIN);
  t.sweep(5000);
  assert.equal(t.size, 0);
  t.hit("203.0.113.1", 5000, 1);
  assert.equal(t.hit("203.0.113.1", 5000, 1), OVER_ANSWER);
});

Deno.test("source table: failed authentications, counted in any view, ban once; a success makes the address known-good", () => {
  const main = new SourceTable(100);
  const worker = new SourceTable(main.buffer);
  const fail = (t: SourceTable, at: number) => t.failed("192.0.2.9", at, 60_000, 3, 3_600_000);
  assert.deepEqual([fail(main, 1000), fail(worker, 2000), fail(worker, 3000)], [
    false,
    false,
    true,
  ]);
  assert.equal(fail(main, 4000), false, "the count starts again after the one that bans");
  fail(main, 5000);
  assert.equal(fail(worker, 70_000), false, "a new window past ban_window: 1 of 3");
  worker.forgetFailures("192.0.2.9");
  fail(main, 71_000);
  assert.equal(fail(main, 72_000), false, "forgotten: 2 of 3");
  main.succeeded("192.0.2.9", 73_000);
  assert.equal(worker.goodAt("192.0.2.9"), 73_000);
  for (let i = 0; i < 5; i++) assert.equal(fail(worker, 74_000 + i), false, "known-good: no ban");
  main.sweep(80_000, 60_000, 3_600_000);
  assert.equal(main.size, 1, "kept while its windows last");
  main.sweep(73_000 + 3_600_000, 60_000, 3_600_000);
  assert.equal(main.size, 0, "then freed");
});

Deno.test("source table: past half full, a success alone no longer keeps an address", () => {
  const t = new SourceTable(12); // 16 slots, 12 used at most
  for (let i = 0; i < 7; i++) t.succeeded(`198.51.100.${i}`, 1000);
  t.sweep(5000, 60_000, 3_600_000);
  assert.equal(t.size, 0, "7 of 12: known-good sources make room");
  for (let i = 0; i < 6; i++) t.succeeded(`198.51.100.${i}`, 1000);
  t.sweep(5000, 60_000, 3_600_000);
  assert.equal(t.size, 6, "6 of 12: kept");
});
