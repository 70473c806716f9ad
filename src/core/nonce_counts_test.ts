import assert from "node:assert/strict";
import { NonceCounts } from "./nonce_counts.ts";

Deno.test("nonce counts: a view of the same buffer sees what the other accepted", () => {
  const one = new NonceCounts(8);
  const other = new NonceCounts(one.buffer);
  assert.equal(other.size, 8);
  one.take(3, 0xabcdef, 1000);
  assert.equal(one.accept(3, 0xabcdef, 1000, 1), "ok");
  assert.equal(other.accept(3, 0xabcdef, 1000, 1), "replay");
  assert.equal(other.accept(3, 0xabcdef, 1000, 2), "ok");
  assert.equal(one.accept(3, 0xabcdef, 1000, 2), "replay");
  // A newer nonce taking the slot in one makes the old one stale in the other.
  one.take(3, 0x123456, 2000);
  assert.equal(other.accept(3, 0xabcdef, 1000, 3), "stale");
  assert.equal(other.accept(3, 0x123456, 2000, 1), "ok");
  // Out of the table, or nc 0: never accepted.
  assert.equal(one.accept(8, 1, 3000, 1), "stale");
  assert.equal(one.accept(3, 0x123456, 2000, 0), "replay");
});
