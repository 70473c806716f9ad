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

Deno.test("nonce counts: a fingerprint is seeded per table, shared by its views, and tells requests apart", () => {
  const one = new NonceCounts(8);
  const view = new NonceCounts(one.buffer);
  const of = (
    counts: NonceCounts,
    response = "0a1b2c3d",
    callId = "reg-1@example",
    cseq = 2,
    host = "127.0.0.1",
    port = 5070,
  ) => counts.fingerprint(response, callId, cseq, host, port);
  assert.equal(of(view), of(one));
  assert.notEqual(of(one), 0);
  // Every part counts.
  assert.notEqual(of(one, "0a1b2c3e"), of(one));
  assert.notEqual(of(one, undefined, "reg-2@example"), of(one));
  assert.notEqual(of(one, undefined, undefined, 3), of(one));
  assert.notEqual(of(one, undefined, undefined, undefined, "127.0.0.2"), of(one));
  assert.notEqual(of(one, undefined, undefined, undefined, undefined, 5071), of(one));
  // Texts do not slide into each other.
  assert.notEqual(of(one, "0a1b2c3d1", "reg"), of(one, "0a1b2c3d", "1reg"));
  // A character past ASCII gets none (0): never a repeat.
  assert.equal(of(one, undefined, "reg-ä@example"), 0);
  // Another table draws another seed: a fingerprint is not computable from the text alone.
  assert.notEqual(of(new NonceCounts(8)), of(one));
});

Deno.test("nonce counts: the request accepted last for a nonce may come again within 32 s; any other reuse is a replay", () => {
  const one = new NonceCounts(8);
  const view = new NonceCounts(one.buffer);
  const t = 1_700_000_000_000;
  const sent = one.fingerprint("0a1b", "reg-1", 2, "127.0.0.1", 5070);
  const forged = one.fingerprint("0a1b", "reg-1", 3, "127.0.0.1", 5070);
  one.take(5, 0x111111, t);
  assert.equal(one.accept(5, 0x111111, t, 1, sent, t), "ok");
  // Retransmitted, to either thread: a repeat, as often as it comes.
  assert.equal(view.accept(5, 0x111111, t, 1, sent, t + 500), "repeat");
  assert.equal(one.accept(5, 0x111111, t, 1, sent, t + 3_500), "repeat");
  // Past 64·T1 the client has given up: no longer a retransmission.
  assert.equal(one.accept(5, 0x111111, t, 1, sent, t + 40_000), "replay");
  // No fingerprint (a method that is not REGISTER, an unparsed head): never a repeat.
  one.take(6, 0x222222, t);
  assert.equal(one.accept(6, 0x222222, t, 1, 0, t), "ok");
  assert.equal(one.accept(6, 0x222222, t, 1, 0, t), "replay");
  // Another request with the same nc is a replay, and disarms the repeat: one guess only.
  one.take(7, 0x333333, t);
  assert.equal(one.accept(7, 0x333333, t, 1, sent, t), "ok");
  assert.equal(view.accept(7, 0x333333, t, 1, forged, t + 1_000), "replay");
  assert.equal(one.accept(7, 0x333333, t, 1, sent, t + 1_000), "replay");
  // Only the highest nc repeats: once nc 2 is in, nc 1's request is a replay.
  assert.equal(one.accept(7, 0x333333, t, 2, forged, t + 1_000), "ok");
  assert.equal(one.accept(7, 0x333333, t, 1, sent, t + 1_000), "replay");
  assert.equal(one.accept(7, 0x333333, t, 2, forged, t + 2_000), "repeat");
  // A newer nonce taking the slot forgets the fingerprint with the count.
  one.take(7, 0x444444, t + 5_000);
  assert.equal(one.accept(7, 0x333333, t, 2, forged, t + 5_000), "stale");
});
