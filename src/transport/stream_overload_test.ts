import assert from "node:assert/strict";
import { StreamLoadWatch } from "./stream_overload.ts";

// A lag bound no tick reaches: only the reads decide (times are given, not waited).
const NO_LAG = 1e9;

Deno.test("stream load watch: full reads shed nothing until they have lasted 250 ms", () => {
  const watch = new StreamLoadWatch(NO_LAG);
  try {
    const conn = watch.connection()!;
    const t0 = Math.ceil(performance.now()); // whole ms: exact differences
    for (let t = 0; t < 250; t += 10) {
      conn.read(true, t0 + t);
      assert.equal(watch.behind(t0 + t), false, `a backlog of ${t} ms is not overload`);
    }
    // A short read ends that backlog: the next full read starts counting anew.
    conn.read(false, t0 + 250);
    conn.read(true, t0 + 260);
    assert.equal(watch.behind(t0 + 260), false);
  } finally {
    watch.close();
  }
});

Deno.test("stream load watch: once declared, new work is refused while any connection is deep", () => {
  const watch = new StreamLoadWatch(NO_LAG);
  try {
    const a = watch.connection()!;
    const b = watch.connection()!;
    const t0 = Math.ceil(performance.now()); // whole ms: exact differences
    a.read(true, t0);
    a.read(true, t0 + 250);
    assert.equal(watch.behind(t0 + 250), true, "a backlog lasting 250 ms declares overload");
    // Each read updates the decision: a short read admits again, though still declared.
    a.read(false, t0 + 251);
    assert.equal(watch.behind(t0 + 251), false, "every connection's latest read was short");
    // A full read of another connection refuses at once (the declaration holds).
    b.read(true, t0 + 300);
    assert.equal(watch.behind(t0 + 300), true, "b is deep");
    a.read(true, t0 + 310);
    b.read(false, t0 + 320);
    assert.equal(watch.behind(t0 + 320), true, "a is deep, whichever read came last");
    a.read(false, t0 + 330);
    assert.equal(watch.behind(t0 + 330), false, "neither is deep");
    // A deep connection that closes stops counting.
    b.read(true, t0 + 340);
    b.closed();
    assert.equal(watch.behind(t0 + 341), false, "the deep connection closed");
  } finally {
    watch.close();
  }
});

Deno.test("stream load watch: overload ends 500 ms after the last full read", () => {
  const watch = new StreamLoadWatch(NO_LAG);
  try {
    const conn = watch.connection()!;
    const t0 = Math.ceil(performance.now()); // whole ms: exact differences
    conn.read(true, t0);
    conn.read(true, t0 + 250);
    conn.read(false, t0 + 251);
    conn.read(true, t0 + 740);
    assert.equal(watch.behind(t0 + 740), true, "still declared 489 ms after the last full read");
    conn.read(false, t0 + 741);
    // No full read for 500 ms: calm, a new backlog must last 250 ms again.
    conn.read(true, t0 + 1241);
    assert.equal(watch.behind(t0 + 1241), false, "calm after 500 ms without a full read");
    conn.read(true, t0 + 1490);
    assert.equal(watch.behind(t0 + 1490), false);
    conn.read(true, t0 + 1491);
    assert.equal(watch.behind(t0 + 1491), true);
  } finally {
    watch.close();
  }
});

Deno.test("stream load watch: a connection left deep with no read since does not keep shedding", () => {
  const watch = new StreamLoadWatch(NO_LAG);
  try {
    const conn = watch.connection()!;
    const t0 = Math.ceil(performance.now()); // whole ms: exact differences
    conn.read(true, t0);
    conn.read(true, t0 + 300);
    assert.equal(watch.behind(t0 + 300), true);
    // Its next read waits for data that does not come: a message read elsewhere later passes.
    assert.equal(watch.behind(t0 + 450), false);
  } finally {
    watch.close();
  }
});

Deno.test("stream load watch: lag 0 never sheds and tracks no connection", () => {
  const watch = new StreamLoadWatch(0);
  assert.equal(watch.connection(), undefined);
  assert.equal(watch.behind(), false);
  watch.close();
});
