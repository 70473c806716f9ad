import assert from "node:assert/strict";
import { TransactionStateError } from "./context.ts";
import {
  flush,
  makeRequest,
  reply,
  serverTx,
  setup,
  T1,
  T2,
  T4,
  tcp,
  udp,
  watchTermination,
} from "./fixtures_test.ts";

// ---- §17.2.1 INVITE server transaction ----

Deno.test("INVITE server: 100 Trying at once, TU gets the request in Proceeding", () => {
  const env = setup();
  const { tx } = serverTx(env);
  assert.deepEqual(env.sender.statuses(), ["100"]);
  assert.deepEqual(env.sender.sent[0].target, { flow: udp });
  assert.equal(env.sender.sent[0].message.get("to")?.includes("tag="), false);
  assert.equal(tx.isInvite, true);
  assert.equal(tx.state, "Proceeding");
  assert.equal(env.layer.stats().server, 1);
});

Deno.test("INVITE server: a TU that answers in place (a 407 challenge) sends no 100 before it", () => {
  const env = setup();
  env.layer.onRequest = (request, _flow, tx) => tx!.respond(reply(request, 407, "c1"));
  env.deliver(makeRequest("INVITE"));
  assert.deepEqual(env.sender.statuses(), ["407"]);
  env.layer.onRequest = (request, _flow, tx) => tx!.respond(reply(request, 180));
  env.deliver(makeRequest("INVITE", { branch: "z9hG4bKringing" }));
  assert.deepEqual(env.sender.statuses(), ["407", "180"], "a provisional in place: no 100 either");
});

Deno.test("INVITE server: retransmission in Proceeding re-sends the latest provisional", () => {
  const env = setup();
  const { req, tx } = serverTx(env);
  env.deliver(makeRequest("INVITE"));
  assert.deepEqual(env.sender.statuses(), ["100", "100"]);
  tx.respond(reply(req, 180));
  env.deliver(makeRequest("INVITE"));
  assert.deepEqual(env.sender.statuses(), ["100", "100", "180", "180"]);
  assert.equal(env.received.length, 1, "retransmissions never reach the TU");
});

Deno.test("INVITE server: 300-699 → Completed, Timer G doubles to T2, Timer H → timeout", () => {
  const env = setup();
  const { req, tx } = serverTx(env);
  const reasons = watchTermination(tx);
  env.sender.clear();
  tx.respond(reply(req, 486));
  assert.equal(tx.state, "Completed");
  env.clock.advance(64 * T1 + 100);
  const times = env.sender.times();
  // G: T1, 2T1, 4T1, then capped at T2.
  const expected = [0];
  for (let t = 0, g = T1; t + g < 64 * T1; t += g, g = Math.min(2 * g, T2)) expected.push(t + g);
  assert.deepEqual(times, expected);
  assert.deepEqual(times.slice(0, 5), [0, 500, 1500, 3500, 7500]);
  assert.ok(env.sender.statuses().every((s) => s === "486"));
  assert.equal(tx.state, "Terminated");
  assert.deepEqual(reasons, ["timeout"]);
  assert.equal(env.layer.stats().server, 0);
});

Deno.test("INVITE server: retransmitted INVITE in Completed re-sends the final", () => {
  const env = setup();
  const { req, tx } = serverTx(env);
  tx.respond(reply(req, 404));
  env.sender.clear();
  env.deliver(makeRequest("INVITE"));
  assert.deepEqual(env.sender.statuses(), ["404"]);
});

Deno.test("INVITE server: ACK → Confirmed (absorbed), Timer I = T4 → Terminated", () => {
  const env = setup();
  const { req, tx } = serverTx(env);
  const reasons = watchTermination(tx);
  tx.respond(reply(req, 486));
  env.clock.advance(100);
  env.deliver(makeRequest("ACK", { toTag: "t9" }));
  assert.equal(tx.state, "Confirmed");
  assert.equal(env.received.length, 1, "ACK for a non-2xx is absorbed");
  env.sender.clear();
  env.deliver(makeRequest("ACK", { toTag: "t9" })); // ACK retransmission absorbed
  env.clock.advance(T4 - 10);
  assert.equal(tx.state, "Confirmed");
  assert.deepEqual(env.sender.sent, [], "Timer G stopped in Confirmed");
  env.clock.advance(10);
  assert.equal(tx.state, "Terminated");
  assert.deepEqual(reasons, ["completed"]);
  assert.equal(env.received.length, 1);
});

Deno.test("INVITE server: 2xx → Accepted (RFC 6026); absorbs INVITE, passes TU 2xx; Timer L", () => {
  const env = setup();
  const { req, tx } = serverTx(env);
  const reasons = watchTermination(tx);
  const ok = reply(req, 200);
  tx.respond(ok);
  assert.equal(tx.state, "Accepted");
  env.sender.clear();
  env.deliver(makeRequest("INVITE"));
  assert.deepEqual(env.sender.sent, [], "INVITE retransmission absorbed in Accepted");
  env.clock.advance(T1);
  assert.deepEqual(env.sender.sent, [], "no 2xx retransmission by the transaction");
  tx.respond(ok); // the TU (UAS core / proxy) retransmits 2xx through the transaction
  assert.deepEqual(env.sender.statuses(), ["200"]);
  assert.throws(() => tx.respond(reply(req, 486)), TransactionStateError);
  assert.throws(() => tx.respond(reply(req, 180)), TransactionStateError);
  // An ACK with the INVITE's branch in Accepted goes to the TU, without a transaction.
  env.deliver(makeRequest("ACK", { toTag: "t9" }));
  assert.equal(env.received.at(-1)?.request.method, "ACK");
  assert.equal(env.received.at(-1)?.tx, undefined);
  env.clock.advance(64 * T1 - T1);
  assert.equal(tx.state, "Terminated");
  assert.deepEqual(reasons, ["completed"]);
  assert.throws(() => tx.respond(ok), TransactionStateError);
});

Deno.test("INVITE server: ACK for 2xx with a new branch is a new request without tx", () => {
  const env = setup();
  const { req, tx } = serverTx(env);
  tx.respond(reply(req, 200));
  env.deliver(makeRequest("ACK", { branch: "z9hG4bKack2xx", toTag: "t9" }));
  assert.equal(env.received.length, 2);
  assert.equal(env.received[1].request.method, "ACK");
  assert.equal(env.received[1].tx, undefined);
  assert.equal(tx.state, "Accepted");
});

Deno.test("INVITE server: no response allowed in Completed or Confirmed", () => {
  const env = setup();
  const { req, tx } = serverTx(env);
  tx.respond(reply(req, 486));
  assert.throws(() => tx.respond(reply(req, 200)), TransactionStateError);
  env.deliver(makeRequest("ACK", { toTag: "t9" }));
  assert.throws(() => tx.respond(reply(req, 486)), TransactionStateError);
  assert.throws(() => tx.respond(reply(req, 99)), RangeError);
});

Deno.test("INVITE server over a reliable flow: no G; ACK terminates at once (I = 0)", () => {
  const env = setup();
  const { req, tx } = serverTx(env, "INVITE", {}, tcp);
  const reasons = watchTermination(tx);
  tx.respond(reply(req, 486));
  env.sender.clear();
  env.clock.advance(T2 * 2);
  assert.deepEqual(env.sender.sent, [], "no Timer G on a reliable flow");
  env.deliver(makeRequest("ACK", { toTag: "t9" }), tcp);
  assert.equal(tx.state, "Terminated");
  assert.deepEqual(reasons, ["completed"]);
});

Deno.test("INVITE server over a reliable flow: Timer H still fires without ACK", () => {
  const env = setup();
  const { req, tx } = serverTx(env, "INVITE", {}, tcp);
  const reasons = watchTermination(tx);
  tx.respond(reply(req, 603));
  env.clock.advance(64 * T1);
  assert.deepEqual(reasons, ["timeout"]);
});

Deno.test("INVITE server: a failed response send → onTerminated(transport_error)", async () => {
  const env = setup();
  const { req, tx } = serverTx(env);
  const reasons = watchTermination(tx);
  env.sender.failWith = new Error("ICMP unreachable");
  tx.respond(reply(req, 486));
  await flush();
  assert.equal(tx.state, "Terminated");
  assert.deepEqual(reasons, ["transport_error"]);
  assert.equal(env.layer.stats().server, 0);
});

// ---- §17.2.2 non-INVITE server transaction ----

Deno.test("non-INVITE server: Trying discards retransmissions; no automatic 100", () => {
  const env = setup();
  env.deliver(makeRequest("OPTIONS"));
  const tx = env.received[0].tx!;
  assert.equal(tx.isInvite, false);
  assert.equal(tx.state, "Trying");
  env.deliver(makeRequest("OPTIONS"));
  assert.deepEqual(env.sender.sent, []);
  assert.equal(env.received.length, 1);
});

Deno.test("non-INVITE server: 1xx → Proceeding; retransmission re-sends the 1xx", () => {
  const env = setup();
  const { req, tx } = serverTx(env, "REGISTER");
  tx.respond(reply(req, 100));
  assert.equal(tx.state, "Proceeding");
  env.deliver(makeRequest("REGISTER"));
  assert.deepEqual(env.sender.statuses(), ["100", "100"]);
});

Deno.test("non-INVITE server over UDP: final → the layer keeps its bytes for Timer J", () => {
  const env = setup();
  const { req, tx } = serverTx(env, "BYE");
  const reasons = watchTermination(tx);
  tx.respond(reply(req, 200));
  // The transaction object ends now; key + bytes stay in the layer (Completed, §17.2.2).
  assert.equal(tx.state, "Terminated");
  assert.deepEqual(reasons, ["completed"]);
  assert.deepEqual(env.layer.stats(), { server: 0, client: 0, completed: 1 });
  env.clock.advance(1000);
  env.deliver(makeRequest("BYE"));
  assert.deepEqual(env.sender.statuses(), ["200", "200"]);
  const [first, again] = env.sender.sent.map((s) => s.message.toString());
  assert.equal(again, first, "the retransmission gets the very same bytes");
  assert.equal(env.received.length, 1, "retransmissions never reach the TU");
  tx.respond(reply(req, 500)); // §17.2.2: discarded once Completed
  assert.deepEqual(env.sender.statuses(), ["200", "200"]);
  env.clock.advance(64 * T1 - 1000 - 10);
  env.deliver(makeRequest("BYE"));
  assert.deepEqual(env.sender.statuses(), ["200", "200", "200"]);
  env.clock.advance(10);
  // After Timer J the same request is new again.
  env.deliver(makeRequest("BYE"));
  assert.equal(env.received.length, 2);
  assert.equal(env.layer.stats().completed, 0);
});

Deno.test("non-INVITE server over a reliable flow: final → Terminated at once (J = 0)", () => {
  const env = setup();
  const { req, tx } = serverTx(env, "MESSAGE", {}, tcp);
  const reasons = watchTermination(tx);
  tx.respond(reply(req, 202));
  assert.equal(tx.state, "Terminated");
  assert.deepEqual(reasons, ["completed"]);
  assert.equal(env.layer.stats().server, 0);
  assert.throws(() => tx.respond(reply(req, 202)), TransactionStateError);
});

Deno.test("non-INVITE server: a failed send → onTerminated(transport_error)", async () => {
  const env = setup();
  const { req, tx } = serverTx(env, "OPTIONS");
  const reasons = watchTermination(tx);
  env.sender.failWith = new Error("gone");
  tx.respond(reply(req, 100));
  await flush();
  assert.deepEqual(reasons, ["transport_error"]);
});
