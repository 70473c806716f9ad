import assert from "node:assert/strict";
import type { SipRequest } from "../sip/message.ts";
import { parseMessage } from "../sip/parse.ts";
import { buildAck, buildCancel } from "./client.ts";
import { newBranch } from "./layer.ts";
import {
  flush,
  makeFlow,
  makeRequest,
  recordingHandlers,
  reply,
  setup,
  T1,
  T2,
  T4,
  tcp,
  udp,
} from "./fixtures_test.ts";
import { TransactionStateError } from "./context.ts";

const UDP_TARGET = { transport: "udp" as const, host: "127.0.0.1", port: 5070 };
const TCP_TARGET = { transport: "tcp" as const, host: "127.0.0.1", port: 5070 };

function start(
  method: string,
  target: Parameters<ReturnType<typeof setup>["layer"]["sendRequest"]>[1] = UDP_TARGET,
) {
  const env = setup();
  const req = makeRequest(method, { branch: newBranch() });
  const { log, handlers } = recordingHandlers();
  const tx = env.layer.sendRequest(req, target, handlers);
  return { env, req, log, tx };
}

// ---- §17.1.1 INVITE client transaction ----

Deno.test("INVITE client: Timer A doubles without cap until Timer B → onTimeout", async () => {
  const { env, tx, log } = start("INVITE");
  assert.equal(tx.state, "Calling");
  assert.deepEqual(env.sender.sent[0].target, UDP_TARGET);
  await flush(); // the transport reports the flow it used
  env.clock.advance(64 * T1 + 10);
  // A = T1, 2T1, 4T1, ... 32T1: sends at 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s.
  assert.deepEqual(env.sender.times(), [0, 500, 1500, 3500, 7500, 15500, 31500]);
  assert.ok(env.sender.statuses().every((m) => m === "INVITE"));
  // Retransmissions reuse the flow the first send reported.
  assert.ok("flow" in env.sender.sent[1].target);
  assert.equal(log.timeouts, 1);
  assert.equal(tx.state, "Terminated");
  assert.equal(env.layer.stats().client, 0);
});

Deno.test("INVITE client: 1xx → Proceeding, retransmissions stop, B no longer applies", () => {
  const { env, req, tx, log } = start("INVITE");
  env.clock.advance(600);
  env.deliver(reply(req, 100));
  env.deliver(reply(req, 180));
  assert.equal(tx.state, "Proceeding");
  assert.deepEqual(log.responses.map((r) => r.status), [100, 180]);
  env.clock.advance(64 * T1 * 2);
  assert.equal(env.sender.sent.length, 2, "initial send + one retransmission at 500 ms");
  assert.equal(log.timeouts, 0);
  assert.equal(tx.state, "Proceeding");
});

Deno.test("INVITE client: 300-699 → Completed, ACK built per §17.1.1.3, Timer D", () => {
  const { env, req, tx, log } = start("INVITE");
  req.append("Route", "<sip:proxy.example.com;lr>");
  env.deliver(reply(req, 180));
  env.deliver(reply(req, 486, "callee-tag"));
  assert.equal(tx.state, "Completed");
  assert.deepEqual(log.responses.map((r) => r.status), [180, 486]);
  // Only the ACK's bytes are kept for Timer D: what went on the wire is what is checked.
  const wire = env.sender.sent.at(-1)!.message.toBytes();
  const ack = parseMessage(wire) as SipRequest;
  assert.equal(ack.method, "ACK");
  assert.equal(ack.uri, req.uri);
  assert.deepEqual(ack.getAll("via"), [req.getAll("via")[0]]);
  assert.equal(ack.cseq.seq, req.cseq.seq);
  assert.equal(ack.cseq.method, "ACK");
  assert.equal(ack.to.params.get("tag"), "callee-tag");
  assert.equal(ack.get("from"), req.get("from"));
  assert.equal(ack.callId, req.callId);
  assert.equal(ack.get("route"), "<sip:proxy.example.com;lr>");
  // A retransmitted final re-sends the ACK and is not passed up.
  env.deliver(reply(req, 486, "callee-tag"));
  assert.deepEqual(env.sender.statuses().slice(-2), ["ACK", "ACK"]);
  assert.deepEqual(env.sender.sent.at(-1)!.message.toBytes(), wire, "the same ACK again");
  assert.equal(log.responses.length, 2);
  env.clock.advance(32000 - 10);
  assert.equal(tx.state, "Completed");
  env.clock.advance(10);
  assert.equal(tx.state, "Terminated");
  assert.equal(env.layer.stats().client, 0);
});

Deno.test("INVITE client: final in Calling also → Completed (no 1xx needed)", () => {
  const { env, req, tx } = start("INVITE");
  env.deliver(reply(req, 503));
  assert.equal(tx.state, "Completed");
  env.clock.advance(5000);
  assert.deepEqual(env.sender.statuses(), ["INVITE", "ACK"], "no retransmission after a final");
});

Deno.test("INVITE client: 2xx → Accepted (RFC 6026), every 2xx to the TU, Timer M", () => {
  const { env, req, tx, log } = start("INVITE");
  env.deliver(reply(req, 200, "a"));
  assert.equal(tx.state, "Accepted");
  env.deliver(reply(req, 200, "a")); // retransmission
  env.deliver(reply(req, 200, "b")); // another fork
  env.deliver(reply(req, 486, "c")); // not a 2xx: dropped in Accepted
  assert.deepEqual(log.responses.map((r) => r.status), [200, 200, 200]);
  assert.deepEqual(env.sender.statuses(), ["INVITE"], "the transaction never ACKs a 2xx");
  env.clock.advance(64 * T1);
  assert.equal(tx.state, "Terminated");
  env.deliver(reply(req, 200, "a"));
  assert.equal(env.stray.length, 1, "after Timer M a 2xx is stray");
});

Deno.test("INVITE client over a reliable flow: no Timer A, D = 0", () => {
  const { env, req, tx, log } = start("INVITE", TCP_TARGET);
  env.clock.advance(64 * T1 - 10);
  assert.equal(env.sender.sent.length, 1);
  env.deliver(reply(req, 404), tcp);
  assert.equal(tx.state, "Terminated");
  assert.deepEqual(env.sender.statuses(), ["INVITE", "ACK"]);
  assert.equal(log.responses.length, 1);
  assert.equal(env.layer.stats().client, 0);
});

Deno.test("INVITE client over a reliable flow: Timer B still fires", () => {
  const { env, log } = start("INVITE", { flow: tcp });
  env.clock.advance(64 * T1);
  assert.equal(log.timeouts, 1);
  assert.equal(env.sender.sent.length, 1);
});

Deno.test("INVITE client: transport error in Calling → Terminated, onTransportError", async () => {
  const env = setup();
  env.sender.failWith = new Error("connection refused");
  const { log, handlers } = recordingHandlers();
  const tx = env.layer.sendRequest(
    makeRequest("INVITE", { branch: newBranch() }),
    TCP_TARGET,
    handlers,
  );
  await flush();
  assert.equal(tx.state, "Terminated");
  assert.equal(log.errors[0]?.message, "connection refused");
  env.clock.advance(64 * T1);
  assert.equal(log.timeouts, 0);
});

Deno.test("INVITE client: cancel() waits for a provisional (§9.1), then sends CANCEL", async () => {
  const { env, req, tx } = start("INVITE");
  await flush();
  tx.cancel([["Reason", 'SIP;cause=200;text="Call completed elsewhere"']]);
  tx.cancel(); // idempotent
  assert.deepEqual(env.sender.statuses(), ["INVITE"]);
  env.deliver(reply(req, 180));
  const sent = env.sender.sent.at(-1)!;
  const cancel = sent.message as SipRequest;
  assert.equal(cancel.method, "CANCEL");
  assert.equal(cancel.uri, req.uri);
  assert.deepEqual(cancel.getAll("via"), [req.getAll("via")[0]]);
  assert.equal(cancel.cseq.method, "CANCEL");
  assert.equal(cancel.cseq.seq, req.cseq.seq);
  assert.equal(cancel.get("to"), req.get("to"));
  assert.equal(cancel.get("reason"), 'SIP;cause=200;text="Call completed elsewhere"');
  // The INVITE went to UDP_TARGET and the transport reported flow "udp:out": same place.
  assert.deepEqual(sent.target, { flow: makeFlow("udp", "udp:out") });
  assert.deepEqual(env.layer.stats(), { server: 0, client: 2, completed: 0 });
  // The 200 to the CANCEL matches the CANCEL transaction, not the INVITE.
  env.deliver(reply(cancel, 200));
  assert.equal(env.stray.length, 0);
  env.deliver(reply(req, 487));
  assert.equal(tx.state, "Completed");
  assert.equal(env.sender.statuses().filter((m) => m === "CANCEL").length, 1);
});

Deno.test("INVITE client: cancel() in Proceeding sends at once; after a final it does nothing", () => {
  const { env, req, tx } = start("INVITE");
  env.deliver(reply(req, 183));
  tx.cancel();
  assert.equal(env.sender.statuses().at(-1), "CANCEL");
  const other = start("INVITE");
  other.env.deliver(reply(other.req, 200));
  other.tx.cancel();
  assert.deepEqual(other.env.sender.statuses(), ["INVITE"]);
});

Deno.test("INVITE client: a queued CANCEL is dropped when a final arrives first", () => {
  const { env, req, tx } = start("INVITE");
  tx.cancel();
  env.deliver(reply(req, 486));
  env.deliver(reply(req, 180));
  assert.deepEqual(env.sender.statuses(), ["INVITE", "ACK"]);
});

// ---- §17.1.2 non-INVITE client transaction ----

Deno.test("non-INVITE client: Timer E doubles up to T2 until Timer F → onTimeout", () => {
  const { env, tx, log } = start("OPTIONS");
  assert.equal(tx.state, "Trying");
  env.clock.advance(64 * T1 + 10);
  const expected = [0];
  for (let t = 0, e = T1; t + e < 64 * T1; t += e, e = Math.min(2 * e, T2)) expected.push(t + e);
  assert.deepEqual(env.sender.times(), expected);
  assert.deepEqual(expected.slice(0, 6), [0, 500, 1500, 3500, 7500, 11500]);
  assert.equal(log.timeouts, 1);
  assert.equal(tx.state, "Terminated");
  assert.throws(() => tx.cancel(), TransactionStateError);
});

Deno.test("non-INVITE client: 1xx → Proceeding, E becomes T2; F still fires", () => {
  const { env, req, tx, log } = start("REGISTER");
  env.clock.advance(600); // one retransmission at 500, next E due at 1500
  env.deliver(reply(req, 100));
  assert.equal(tx.state, "Proceeding");
  env.clock.advance(64 * T1 - 600);
  const times = env.sender.times();
  // 1500 (E fires in Proceeding), then every T2.
  assert.deepEqual(times.slice(0, 5), [0, 500, 1500, 5500, 9500]);
  for (let i = 3; i < times.length; i++) assert.equal(times[i] - times[i - 1], T2);
  assert.equal(log.timeouts, 1);
  assert.deepEqual(log.responses.map((r) => r.status), [100]);
});

Deno.test("non-INVITE client: final → Completed, retransmitted finals absorbed, Timer K", () => {
  const { env, req, tx, log } = start("BYE");
  assert.equal(tx.request, req);
  env.deliver(reply(req, 200));
  assert.equal(tx.state, "Completed");
  assert.equal(tx.request, undefined, "Timer K does not hold the request");
  env.deliver(reply(req, 200));
  env.deliver(reply(req, 180));
  assert.deepEqual(log.responses.map((r) => r.status), [200]);
  env.clock.advance(T4 - 10);
  assert.equal(tx.state, "Completed");
  assert.deepEqual(env.sender.statuses(), ["BYE"], "no retransmission after the final");
  env.clock.advance(10);
  assert.equal(tx.state, "Terminated");
  assert.equal(env.stray.length, 0);
  env.deliver(reply(req, 200));
  assert.equal(env.stray.length, 1);
});

Deno.test("non-INVITE client over a reliable flow: no E; final → Terminated (K = 0)", () => {
  const { env, req, tx } = start("MESSAGE", { flow: tcp });
  env.clock.advance(10000);
  assert.equal(env.sender.sent.length, 1);
  env.deliver(reply(req, 202), tcp);
  assert.equal(tx.state, "Terminated");
});

Deno.test("non-INVITE client: transport error on a retransmission → onTransportError", async () => {
  const { env, tx, log } = start("OPTIONS");
  await flush();
  env.sender.failWith = new Error("no route");
  env.clock.advance(T1);
  await flush();
  assert.equal(tx.state, "Terminated");
  assert.equal(log.errors.length, 1);
});

Deno.test("client matching: same branch, other CSeq method is not a match (§17.1.3)", () => {
  const { env, req, log } = start("INVITE");
  const res = reply(req, 200);
  res.set("CSeq", `${req.cseq.seq} CANCEL`);
  env.deliver(res, udp);
  assert.equal(log.responses.length, 0);
  assert.equal(env.stray.length, 1);
});

Deno.test("sendRequest refuses ACK, a missing magic cookie and duplicates", () => {
  const env = setup();
  const { handlers } = recordingHandlers();
  assert.throws(
    () => env.layer.sendRequest(makeRequest("ACK", { branch: newBranch() }), UDP_TARGET, handlers),
    /sendStateless/,
  );
  assert.throws(
    () => env.layer.sendRequest(makeRequest("OPTIONS", { branch: "1234" }), UDP_TARGET, handlers),
    /z9hG4bK/,
  );
  const req = makeRequest("OPTIONS", { branch: newBranch() });
  env.layer.sendRequest(req, UDP_TARGET, handlers);
  assert.throws(() => env.layer.sendRequest(req, UDP_TARGET, handlers), /duplicate/);
});

Deno.test("handler exceptions do not break the layer", () => {
  const env = setup();
  const req = makeRequest("INVITE", { branch: newBranch() });
  env.layer.sendRequest(req, UDP_TARGET, {
    onResponse: () => {
      throw new Error("TU bug");
    },
    onTimeout: () => {},
    onTransportError: () => {},
  });
  env.deliver(reply(req, 486));
  env.deliver(reply(req, 486));
  assert.deepEqual(env.sender.statuses(), ["INVITE", "ACK", "ACK"]);
});

Deno.test("newBranch: magic cookie and uniqueness; buildAck/buildCancel keep Route order", () => {
  const a = newBranch();
  assert.match(a, /^z9hG4bK[0-9a-f]{24}$/);
  assert.notEqual(a, newBranch());
  const req = makeRequest("INVITE");
  req.append("Route", "<sip:p1;lr>");
  req.append("Route", "<sip:p2;lr>");
  assert.deepEqual(buildCancel(req).getAll("route"), ["<sip:p1;lr>", "<sip:p2;lr>"]);
  assert.deepEqual(buildAck(req, reply(req, 486)).getAll("route"), ["<sip:p1;lr>", "<sip:p2;lr>"]);
});
