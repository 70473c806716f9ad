import assert from "node:assert/strict";
import { parseDecision } from "./call_events.ts";

Deno.test("parseDecision: the four actions; anything else means proxy as usual", () => {
  assert.deepEqual(parseDecision({ action: "proxy" }), { action: "proxy" });
  assert.deepEqual(parseDecision({ action: "proxy", to: "1003" }), { action: "proxy", to: "1003" });
  assert.deepEqual(parseDecision({ action: "hold" }), { action: "hold" });
  assert.deepEqual(parseDecision({ action: "reject", code: 486, reason: "Busy Here" }), {
    action: "reject",
    code: 486,
    reason: "Busy Here",
  });
  assert.deepEqual(parseDecision({ action: "reject" }), { action: "reject", code: 486 });
  // Malformed: undefined, so the call is proxied.
  for (
    const bad of [
      null,
      [],
      "proxy",
      {},
      { action: "dance" },
      { action: "proxy", to: "a b" },
      { action: "proxy", to: 7 },
      { action: "reject", code: 200 },
      { action: "reject", code: 486.5 },
    ]
  ) {
    assert.equal(parseDecision(bad), undefined, JSON.stringify(bad));
  }
  // A reason with a line break is dropped, not sent.
  assert.deepEqual(parseDecision({ action: "reject", code: 603, reason: "x\r\nVia: y" }), {
    action: "reject",
    code: 603,
  });
});
