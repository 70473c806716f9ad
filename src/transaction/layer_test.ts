import assert from "node:assert/strict";
import { SipRequest } from "../sip/message.ts";
import { parseMessage } from "../sip/parse.ts";
import { clientKey, hashServerKey, serverKey, TransactionLayer } from "./layer.ts";
import { hashDigits, hashHigh, hashLow, hashStart, hashText } from "./key_hash.ts";
import {
  makeFlow,
  makeRequest,
  RecordingSender,
  reply,
  serverTx,
  setup,
  T1,
  tcp,
  udp,
} from "./fixtures_test.ts";
import { ManualClock } from "./timers.ts";

const OLD_VIA = "SIP/2.0/UDP 10.0.0.9:5060"; // RFC 2543 peer: no branch at all

// ---- §17.2.3 matching ----

Deno.test("matching: branch + sent-by + method; other sent-by or method is a new tx", () => {
  const env = setup();
  env.deliver(makeRequest("OPTIONS"));
  env.deliver(makeRequest("OPTIONS", { sentBy: "10.0.0.2:5060" }));
  env.deliver(makeRequest("INFO"));
  assert.equal(env.received.length, 3);
  assert.equal(env.layer.stats().server, 3);
  env.deliver(makeRequest("OPTIONS"));
  assert.equal(env.received.length, 3, "exact retransmission absorbed");
});

Deno.test("matching: RFC 2543 fallback (no magic cookie) absorbs retransmissions", () => {
  const env = setup();
  const req = makeRequest("INVITE", { via: OLD_VIA });
  env.deliver(req);
  env.deliver(makeRequest("INVITE", { via: OLD_VIA }));
  assert.equal(env.received.length, 1);
  assert.deepEqual(env.sender.statuses(), ["100", "100"]);
  // Any field of the 2543 key differing makes a new transaction.
  env.deliver(makeRequest("INVITE", { via: OLD_VIA, cseq: 2 }));
  env.deliver(makeRequest("INVITE", { via: OLD_VIA, fromTag: "other" }));
  env.deliver(makeRequest("INVITE", { via: OLD_VIA, callId: "call-2" }));
  env.deliver(makeRequest("INVITE", { via: OLD_VIA, uri: "sip:carol@example.com" }));
  env.deliver(makeRequest("INVITE", { via: "SIP/2.0/UDP 10.0.0.9:5062" }));
  env.deliver(makeRequest("INVITE", { via: OLD_VIA, toTag: "dialog" }));
  assert.equal(env.received.length, 7);
});

Deno.test("matching: RFC 2543 ACK matches by the To tag of the response sent", () => {
  const env = setup();
  const { req, tx } = serverTx(env, "INVITE", { via: OLD_VIA });
  tx.respond(reply(req, 486, "srv"));
  // An ACK with another To tag is not for this transaction: up to the TU.
  env.deliver(makeRequest("ACK", { via: OLD_VIA, toTag: "nope" }));
  assert.equal(tx.state, "Completed");
  assert.equal(env.received.length, 2);
  assert.equal(env.received[1].tx, undefined);
  env.deliver(makeRequest("ACK", { via: OLD_VIA, toTag: "srv" }));
  assert.equal(tx.state, "Confirmed");
  assert.equal(env.received.length, 2);
});

Deno.test("matching: RFC 2543 re-INVITE (To tag in request) and its ACK", () => {
  const env = setup();
  const { req, tx } = serverTx(env, "INVITE", { via: OLD_VIA, toTag: "dlg" });
  tx.respond(reply(req, 488, "ignored-tag-exists"));
  env.deliver(makeRequest("ACK", { via: OLD_VIA, toTag: "dlg" }));
  assert.equal(tx.state, "Confirmed");
});

Deno.test("matching: keys (serverKey ACK/CANCEL → INVITE; clientKey branch + method)", () => {
  const inv = makeRequest("INVITE");
  assert.equal(serverKey(inv, "INVITE"), serverKey(makeRequest("ACK"), "INVITE"));
  assert.equal(serverKey(inv, "INVITE"), serverKey(makeRequest("CANCEL"), "INVITE"));
  assert.notEqual(serverKey(inv, "INVITE"), serverKey(makeRequest("CANCEL"), "CANCEL"));
  assert.equal(clientKey(inv), "z9hG4bKabc123|INVITE");
  assert.equal(clientKey(reply(inv, 200)), "z9hG4bKabc123|INVITE");
});

// ---- CANCEL (§9.2) ----

Deno.test("CANCEL matching an INVITE tx: layer answers 200, then tx.onCancel; not onRequest", () => {
  const env = setup();
  const { req, tx } = serverTx(env);
  const cancels: SipRequest[] = [];
  tx.onCancel = (c) => cancels.push(c);
  env.sender.clear();
  env.deliver(makeRequest("CANCEL"));
  assert.deepEqual(env.sender.statuses(), ["200"]);
  // A final over UDP leaves as bytes only (kept for retransmissions): read what went out.
  assert.equal(parseMessage(env.sender.sent[0].message.toBytes()).get("cseq"), "1 CANCEL");
  assert.equal(cancels.length, 1);
  assert.equal(cancels[0].method, "CANCEL");
  assert.equal(env.received.length, 1, "the CANCEL is not a new request for the TU");
  // A CANCEL retransmission gets the 200 again, and no second onCancel.
  env.deliver(makeRequest("CANCEL"));
  assert.deepEqual(env.sender.statuses(), ["200", "200"]);
  assert.equal(cancels.length, 1);
  // The TU answers the INVITE 487 as usual.
  tx.respond(reply(req, 487));
  assert.equal(tx.state, "Completed");
});

Deno.test("CANCEL over TCP (J = 0) repeated: 200 each time, onCancel once", () => {
  const env = setup();
  env.deliver(makeRequest("INVITE"), tcp);
  let cancelled = 0;
  env.received[0].tx!.onCancel = () => cancelled++;
  env.deliver(makeRequest("CANCEL"), tcp);
  env.deliver(makeRequest("CANCEL"), tcp);
  assert.deepEqual(env.sender.statuses(), ["100", "200", "200"]);
  assert.equal(cancelled, 1);
});

Deno.test("CANCEL after the INVITE's final: 200 but no onCancel (§9.2)", () => {
  const env = setup();
  const { req, tx } = serverTx(env);
  let cancelled = 0;
  tx.onCancel = () => cancelled++;
  tx.respond(reply(req, 200));
  assert.equal(tx.onCancel, undefined, "the listener (and what it holds) is let go");
  env.sender.clear();
  env.deliver(makeRequest("CANCEL"));
  assert.deepEqual(env.sender.statuses(), ["200"]);
  assert.equal(cancelled, 0);
});

Deno.test("CANCEL matching nothing → 481 by the layer, retransmissions absorbed", () => {
  const env = setup();
  env.deliver(makeRequest("CANCEL", { branch: "z9hG4bKnothing" }));
  env.deliver(makeRequest("CANCEL", { branch: "z9hG4bKnothing" }));
  assert.deepEqual(env.sender.statuses(), ["481", "481"]);
  assert.equal(env.received.length, 0);
  // A CANCEL for a non-INVITE transaction matches no INVITE either.
  env.deliver(makeRequest("OPTIONS", { branch: "z9hG4bKopt" }));
  env.sender.clear();
  env.deliver(makeRequest("CANCEL", { branch: "z9hG4bKopt" }));
  assert.deepEqual(env.sender.statuses(), ["481"]);
});

Deno.test("CANCEL matching with the RFC 2543 fallback", () => {
  const env = setup();
  env.deliver(makeRequest("INVITE", { via: OLD_VIA }));
  let cancelled = 0;
  env.received[0].tx!.onCancel = () => cancelled++;
  env.deliver(makeRequest("CANCEL", { via: OLD_VIA }));
  assert.equal(cancelled, 1);
  assert.equal(env.sender.statuses().at(-1), "200");
});

// ---- robustness ----

Deno.test("an exception in onRequest is logged, the request gets 500, the layer goes on", () => {
  const env = setup();
  env.layer.onRequest = () => {
    throw new Error("core bug");
  };
  env.deliver(makeRequest("MESSAGE"));
  assert.deepEqual(env.sender.statuses(), ["500"]);
  env.deliver(makeRequest("MESSAGE"));
  assert.deepEqual(env.sender.statuses(), ["500", "500"], "the retransmission gets the 500 again");
  env.deliver(makeRequest("OPTIONS", { branch: "z9hG4bKnext" }));
  assert.equal(env.sender.statuses().length, 3);
});

Deno.test("an exception in onTerminated / onCancel / onStrayResponse is contained", () => {
  const env = setup();
  const { req, tx } = serverTx(env);
  tx.onCancel = () => {
    throw new Error("x");
  };
  tx.onTerminated = () => {
    throw new Error("y");
  };
  env.layer.onStrayResponse = () => {
    throw new Error("z");
  };
  env.deliver(makeRequest("CANCEL"));
  tx.respond(reply(req, 487));
  env.deliver(makeRequest("ACK", { toTag: "t9" }));
  env.clock.advance(10000);
  assert.equal(tx.state, "Terminated");
  env.deliver(reply(makeRequest("BYE", { branch: "z9hG4bKstray" }), 200));
  assert.deepEqual(env.layer.stats(), { server: 0, client: 0, completed: 1 }, "CANCEL's 200 kept");
});

Deno.test("malformed requests: stateless 400 when answerable, dropped otherwise", () => {
  const env = setup();
  const bad = makeRequest("OPTIONS");
  bad.set("Via", "SIP/2.0/UDP");
  env.deliver(bad);
  assert.deepEqual(env.sender.statuses(), ["400"]);
  assert.equal(env.sender.sent[0].message.isRequest, false);
  const noVia = makeRequest("OPTIONS");
  noVia.remove("Via");
  env.deliver(noVia);
  const badAck = makeRequest("ACK");
  badAck.set("Via", "garbage");
  env.deliver(badAck);
  const badResponse = reply(makeRequest("OPTIONS"), 200);
  badResponse.remove("Via");
  env.deliver(badResponse);
  assert.deepEqual(env.sender.statuses(), ["400"]);
  assert.equal(env.received.length, 0);
});

Deno.test("responses to unknown transactions go to onStrayResponse", () => {
  const env = setup();
  env.deliver(reply(makeRequest("INVITE", { branch: "z9hG4bKgone" }), 200));
  assert.equal(env.stray.length, 1);
});

Deno.test("close(): timers stop, no callbacks, nothing received afterwards", () => {
  const env = setup();
  const { req, tx } = serverTx(env);
  let terminated = 0;
  tx.onTerminated = () => terminated++;
  tx.respond(reply(req, 486));
  env.layer.close();
  env.sender.clear();
  env.clock.advance(64 * T1);
  assert.deepEqual(env.sender.sent, []);
  assert.equal(terminated, 0);
  assert.deepEqual(env.layer.stats(), { server: 0, client: 0, completed: 0 });
  env.deliver(makeRequest("OPTIONS"));
  assert.equal(env.received.length, 1);
});

Deno.test("two layers back to back: a UDP INVITE/486/ACK exchange ends both sides", () => {
  // Client layer A sends to server layer B through fake senders that deliver synchronously
  // what a transport would: the message serialized and parsed again.
  const clock = new ManualClock();
  const flowAB = makeFlow("udp", "udp:a>b");
  const flowBA = makeFlow("udp", "udp:b>a");
  const toB = new RecordingSender(clock);
  const toA = new RecordingSender(clock);
  const a = new TransactionLayer({ sender: toB, t1: T1, t2: 4000, t4: 5000, clock });
  const b = new TransactionLayer({ sender: toA, t1: T1, t2: 4000, t4: 5000, clock });
  const origB = toB.send.bind(toB);
  toB.send = (m, t) => {
    b.receive({ message: parseMessage(m.toBytes()), flow: flowAB, receivedAt: clock.now() });
    return origB(m, t);
  };
  const origA = toA.send.bind(toA);
  toA.send = (m, t) => {
    a.receive({ message: parseMessage(m.toBytes()), flow: flowBA, receivedAt: clock.now() });
    return origA(m, t);
  };
  b.onRequest = (r, _f, tx) => {
    if (tx) tx.respond(reply(r, 486));
  };
  const statuses: number[] = [];
  a.sendRequest(makeRequest("INVITE", { branch: "z9hG4bKe2e" }), { flow: udp }, {
    onResponse: (r) => statuses.push(r.status),
    onTimeout: () => assert.fail("no timeout expected"),
    onTransportError: () => assert.fail("no transport error expected"),
  });
  assert.deepEqual(statuses, [486], "B answered in place: no 100 Trying before it");
  assert.equal(b.stats().server, 1, "the ACK arrived: Confirmed until Timer I");
  clock.advance(40000);
  assert.deepEqual(a.stats(), { server: 0, client: 0, completed: 0 });
  assert.deepEqual(b.stats(), { server: 0, client: 0, completed: 0 });
  assert.equal(toB.statuses().filter((m) => m === "INVITE").length, 1, "no retransmission");
  a.close();
  b.close();
});

Deno.test("CANCEL of a re-INVITE already answered: the 200 carries the INVITE's To tag", () => {
  const env = setup();
  const req = makeRequest("INVITE", { toTag: "dlg" });
  env.deliver(req);
  env.received[0].tx!.respond(reply(req, 200));
  env.sender.clear();
  env.deliver(makeRequest("CANCEL", { toTag: "dlg" }));
  const sent = parseMessage(env.sender.sent[0].message.toBytes());
  assert.equal(sent.isRequest ? 0 : sent.status, 200);
  assert.match(sent.get("to")!, /;tag=dlg$/);
});

Deno.test("keys: the hashes of an RFC 3261 key from its pieces equal those of its string", () => {
  const vias = [
    "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa1",
    "SIP/2.0/UDP host.example;branch=z9hG4bK-1-77-0;rport",
    "SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bKé",
    "SIP/2.0/UDP 10.0.0.1:0;branch=z9hG4bKzero",
  ];
  for (const via of vias) {
    for (const method of ["REGISTER", "INVITE", "CANCEL"]) {
      const req = makeRequest("OPTIONS", { via });
      assert.ok(hashServerKey(req, method), via);
      const pieces = [hashLow(), hashHigh()];
      hashStart();
      hashText(serverKey(req, method));
      assert.deepEqual(pieces, [hashLow(), hashHigh()], `${via} ${method}`);
    }
  }
  assert.equal(hashServerKey(makeRequest("OPTIONS", { via: OLD_VIA }), "OPTIONS"), false);
});

Deno.test("completed: a final given after other requests were answered is found by its retransmission", () => {
  const env = setup();
  const { req, tx } = serverTx(env, "OPTIONS");
  // Another request answered in place in between: the ring's last hashed key is not `req`'s.
  env.layer.onRequest = (r, _f, t) => t?.respond(reply(r, 200, "b"));
  env.deliver(makeRequest("OPTIONS", { branch: "z9hG4bKother" }));
  tx.respond(reply(req, 404, "a"));
  const sent = env.sender.statuses().length;
  env.deliver(makeRequest("OPTIONS"));
  assert.deepEqual(env.sender.statuses().slice(sent), ["404"], "the kept 404 again");
});

Deno.test("keys: port digits hash as String(port) writes them", () => {
  for (const port of [0, 1, 9, 10, 99, 100, 5060, 65535, 99999, 2147483647]) {
    hashStart();
    assert.ok(hashDigits(port));
    const digits = hashLow();
    hashStart();
    hashText(String(port));
    assert.equal(digits, hashLow(), String(port));
  }
  assert.equal(hashDigits(1.5), false);
  assert.equal(hashDigits(-1), false);
});
