import assert from "node:assert/strict";
import {
  clampIndex,
  fit,
  formatAge,
  formatCountdown,
  formatDuration,
  formatRate,
  formatRow,
  formatUptime,
  layoutColumns,
  matchesFilter,
  ratePerSecond,
  scrollOffset,
  shortUri,
} from "./format.ts";

Deno.test("formatDuration: two units at most, zero-padded", () => {
  assert.equal(formatDuration(0), "0s");
  assert.equal(formatDuration(-5000), "0s");
  assert.equal(formatDuration(59_999), "59s");
  assert.equal(formatDuration(65_000), "1m05s");
  assert.equal(formatDuration(3600_000 + 5 * 60_000 + 7000), "1h05m");
  assert.equal(formatDuration(3 * 86400_000 + 4 * 3600_000), "3d04h");
});

Deno.test("formatUptime: clock style with days", () => {
  assert.equal(formatUptime(0), "00:00:00");
  assert.equal(formatUptime(3723_000), "01:02:03");
  assert.equal(formatUptime(2 * 86400_000 + 3723_000), "2d 01:02:03");
});

Deno.test("formatCountdown and formatAge", () => {
  assert.equal(formatCountdown(undefined, 0), "?");
  assert.equal(formatCountdown(1000, 1000), "expired");
  assert.equal(formatCountdown(61_500, 0), "1m01s");
  assert.equal(formatAge(undefined, 5), "-");
  assert.equal(formatAge(0, 5), "-");
  assert.equal(formatAge(1000, 31_000), "30s");
});

Deno.test("formatRate: readable magnitudes", () => {
  assert.equal(formatRate(0), "0");
  assert.equal(formatRate(-1), "0");
  assert.equal(formatRate(Number.NaN), "0");
  assert.equal(formatRate(7.46), "7.5");
  assert.equal(formatRate(42.4), "42");
  assert.equal(formatRate(1234), "1.2k");
  assert.equal(formatRate(3_400_000), "3.4M");
});

Deno.test("ratePerSecond: delta over elapsed time; resets and stalls give 0", () => {
  assert.equal(ratePerSecond(undefined, { total: 5, at: 1000 }), 0);
  assert.equal(ratePerSecond({ total: 10, at: 0 }, { total: 30, at: 2000 }), 10);
  assert.equal(ratePerSecond({ total: 10, at: 0 }, { total: 5, at: 2000 }), 0);
  assert.equal(ratePerSecond({ total: 10, at: 1000 }, { total: 20, at: 1000 }), 0);
});

Deno.test("fit: truncates with an ellipsis, pads, aligns, flattens newlines", () => {
  assert.equal(fit("abc", 5), "abc  ");
  assert.equal(fit("abc", 5, "right"), "  abc");
  assert.equal(fit("abcdef", 4), "abc…");
  assert.equal(fit("abcdef", 1), "…");
  assert.equal(fit("abc", 0), "");
  assert.equal(fit("a\nb", 3), "a b");
  assert.equal(fit("héllo", 5), "héllo");
});

Deno.test("layoutColumns: minimums first, spare shared by grow, overflow hidden", () => {
  const cols = [
    { title: "a", min: 10, grow: 1 },
    { title: "b", min: 5 },
    { title: "c", min: 10, grow: 3 },
  ];
  // 10 + 1 + 5 + 1 + 10 = 27; spare 13 → a +3, c +10
  assert.deepEqual(layoutColumns(cols, 40), [13, 5, 20]);
  assert.deepEqual(layoutColumns(cols, 27), [10, 5, 10]);
  // c does not fit: hidden; spare goes to a
  assert.deepEqual(layoutColumns(cols, 20), [14, 5, 0]);
  assert.deepEqual(layoutColumns(cols, 5), [0, 0, 0]);
  for (const w of [27, 40, 80, 200]) {
    const widths = layoutColumns(cols, w);
    const shown = widths.filter((x) => x > 0);
    assert.equal(shown.reduce((a, b) => a + b, 0) + shown.length - 1, w);
  }
});

Deno.test("formatRow: fixed total width, hidden columns dropped", () => {
  const cols = [{ title: "a", min: 3 }, { title: "n", min: 4, align: "right" as const }];
  assert.equal(formatRow(["x", "12"], [3, 4], cols), "x     12");
  assert.equal(formatRow(["xyzw", "12"], [3, 0], cols), "xy…");
});

Deno.test("matchesFilter: case-insensitive over any cell", () => {
  assert.ok(matchesFilter(["Alice@example.com", "ws"], ""));
  assert.ok(matchesFilter(["Alice@example.com", "ws"], "alice"));
  assert.ok(matchesFilter(["Alice@example.com", "WS"], " ws "));
  assert.ok(!matchesFilter(["Alice@example.com", "ws"], "bob"));
});

Deno.test("clampIndex and scrollOffset keep the selection visible", () => {
  assert.equal(clampIndex(5, 0), 0);
  assert.equal(clampIndex(-1, 3), 0);
  assert.equal(clampIndex(9, 3), 2);
  assert.equal(scrollOffset(0, 0, 10, 5), 0);
  assert.equal(scrollOffset(12, 0, 10, 50), 3);
  assert.equal(scrollOffset(4, 3, 10, 50), 3);
  assert.equal(scrollOffset(2, 3, 10, 50), 2);
  assert.equal(scrollOffset(49, 45, 10, 50), 40);
  assert.equal(scrollOffset(0, 0, 0, 50), 0);
});

Deno.test("shortUri drops scheme and brackets", () => {
  assert.equal(shortUri("<sip:alice@h.invalid;transport=ws>"), "alice@h.invalid;transport=ws");
  assert.equal(shortUri("sips:bob@x"), "bob@x");
});
