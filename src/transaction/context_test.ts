import assert from "node:assert/strict";
import {
  INVITE_CLIENT,
  INVITE_SERVER,
  NON_INVITE_CLIENT,
  NON_INVITE_SERVER,
  TransactionStateError,
  transition,
} from "./context.ts";

Deno.test("transition: the RFC 3261 §17 / RFC 6026 arrows pass, others throw", () => {
  assert.equal(transition("INVITE", "server", INVITE_SERVER, "Proceeding", "Accepted"), "Accepted");
  assert.equal(
    transition("INVITE", "server", INVITE_SERVER, "Completed", "Confirmed"),
    "Confirmed",
  );
  assert.equal(transition("INVITE", "client", INVITE_CLIENT, "Calling", "Completed"), "Completed");
  assert.equal(
    transition("BYE", "client", NON_INVITE_CLIENT, "Proceeding", "Proceeding"),
    "Proceeding",
  );
  assert.equal(
    transition("BYE", "server", NON_INVITE_SERVER, "Trying", "Terminated"),
    "Terminated",
  );
  // No arrow back, no skipping a final, nothing out of Terminated.
  assert.throws(
    () => transition("INVITE", "server", INVITE_SERVER, "Accepted", "Completed"),
    TransactionStateError,
  );
  assert.throws(
    () => transition("INVITE", "server", INVITE_SERVER, "Proceeding", "Confirmed"),
    /INVITE server: no transition Proceeding → Confirmed/,
  );
  assert.throws(() => transition("x", "client", NON_INVITE_SERVER, "Completed", "Proceeding"));
  assert.throws(() => transition("x", "client", INVITE_CLIENT, "Accepted", "Proceeding"));
  assert.throws(() => transition("x", "client", NON_INVITE_CLIENT, "Terminated", "Terminated"));
});
