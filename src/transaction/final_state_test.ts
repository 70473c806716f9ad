/**
 * What the layer retains once a transaction's final response went out or came in (Timers
 * L, H, I, M, D, K): after a full GC, the request, the responses, the transaction object and
 * (but for an INVITE client's Accepted) the TU's handlers are gone, while retransmissions,
 * ACK and CANCEL are still answered as RFC 3261 §17 / RFC 6026 say.
 */
import assert from "node:assert/strict";
import v8 from "node:v8";
import vm from "node:vm";
import type { SipMessage } from "../sip/message.ts";
import type { Flow, MessageSender, Target } from "../transport/types.ts";
import { makeFlow, makeRequest, reply, T1, T2, T4 } from "./fixtures_test.ts";
import { type ClientHandlers, newBranch, TransactionLayer } from "./layer.ts";
import { ManualClock } from "./timers.ts";

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;

/** A full GC once the current job is over (WeakRef targets live until then). */
async function collect(): Promise<void> {
  await new Promise((r) => setTimeout(r, 0));
  gc();
}

/** Keeps what was sent as text only: holding the messages would keep them alive. */
class WireSender implements MessageSender {
  sent: string[] = [];
  send(message: SipMessage, target: Target): Promise<Flow> {
    this.sent.push(new TextDecoder().decode(message.toBytes()));
    return Promise.resolve("flow" in target ? target.flow : makeFlow(target.transport, "out"));
  }
  localAddress() {
    return { host: "127.0.0.1", port: 5060 };
  }
  /** Start lines since the last call. */
  take(): string[] {
    const lines = this.sent.map((s) => s.slice(0, s.indexOf("\r\n")));
    this.sent = [];
    return lines;
  }
}

function setup() {
  const clock = new ManualClock();
  const sender = new WireSender();
  const layer = new TransactionLayer({ sender, t1: T1, t2: T2, t4: T4, clock });
  const udp = makeFlow("udp");
  const deliver = (message: SipMessage) => layer.receive({ message, flow: udp, receivedAt: 0 });
  return { clock, sender, layer, udp, deliver };
}

const handlers = (onResponse: ClientHandlers["onResponse"] = () => {}): ClientHandlers => ({
  onResponse,
  onTimeout: () => {},
  onTransportError: () => {},
});

/** Delivers an INVITE the TU answers `status`; weak references to its request, response, tx. */
function answerInvite(env: ReturnType<typeof setup>, status: number): WeakRef<object>[] {
  const refs: WeakRef<object>[] = [];
  env.layer.onRequest = (request, _flow, tx) => {
    const response = reply(request, status, "t9");
    refs.push(new WeakRef(request), new WeakRef(response), new WeakRef(tx!));
    tx!.respond(response);
  };
  env.deliver(makeRequest("INVITE"));
  env.layer.onRequest = () => assert.fail("a retransmission reached the TU");
  return refs;
}

Deno.test("INVITE server after a 2xx keeps no request, response or transaction", async () => {
  const env = setup();
  const refs = answerInvite(env, 200);
  assert.deepEqual(env.sender.take(), ["SIP/2.0 200 OK"], "answered in place: no 100");
  await collect();
  assert.deepEqual(alive(refs), [false, false, false]);
  // RFC 6026 §7.1 Accepted: a retransmitted INVITE is absorbed, a CANCEL matches (200).
  env.deliver(makeRequest("INVITE"));
  assert.deepEqual(env.sender.take(), []);
  env.deliver(makeRequest("CANCEL"));
  assert.deepEqual(env.sender.take(), ["SIP/2.0 200 OK"]);
  assert.equal(
    env.layer.stats().server,
    1,
    "what is left of the INVITE (the CANCEL went to the ring)",
  );
  env.clock.advance(64 * T1);
  assert.equal(env.layer.stats().server, 0, "Timer L ended it");
});

Deno.test("INVITE server after a non-2xx keeps the final's bytes until the ACK", async () => {
  const env = setup();
  const refs = answerInvite(env, 486);
  const final = env.sender.sent.at(-1);
  env.sender.take();
  await collect();
  assert.deepEqual(alive(refs), [false, false, false]);
  // §17.2.1 Completed: the same bytes for a retransmitted INVITE and for Timer G.
  env.deliver(makeRequest("INVITE"));
  assert.deepEqual(env.sender.sent, [final]);
  env.clock.advance(T1);
  assert.deepEqual(env.sender.sent, [final, final]);
  env.sender.take();
  // The ACK is absorbed (Confirmed), then Timer I ends what is left.
  env.deliver(makeRequest("ACK", { toTag: "t9" }));
  env.clock.advance(T2);
  assert.deepEqual(env.sender.take(), [], "no Timer G after the ACK");
  assert.equal(env.layer.stats().server, 1);
  env.clock.advance(T4);
  assert.equal(env.layer.stats().server, 0);
});

/**
 * Runs a client transaction of `method` to a final `status` from the callee; returns weak
 * references to its request, the transaction, the final and the TU's handlers (counting
 * into `responses`), and its branch.
 */
function finishClient(
  env: ReturnType<typeof setup>,
  method: string,
  status: number,
  responses: number[],
) {
  const request = makeRequest(method, { branch: newBranch() });
  const h = handlers((r) => responses.push(r.status));
  const tx = env.layer.sendRequest(request, { flow: env.udp }, h);
  const final = reply(request, status, "t9");
  env.deliver(final);
  const refs = [request, tx, final, h].map((o) => new WeakRef(o));
  return { refs, branch: request.topVia.params.get("branch")! };
}

const alive = (refs: WeakRef<object>[]) => refs.map((r) => r.deref() !== undefined);

Deno.test("INVITE client after a non-2xx keeps the ACK's bytes, not its handlers", async () => {
  const env = setup();
  const responses: number[] = [];
  const { refs, branch } = finishClient(env, "INVITE", 486, responses);
  const ack = env.sender.sent.at(-1)!;
  assert.match(ack, /^ACK /);
  env.sender.take();
  await collect();
  assert.deepEqual(alive(refs), [false, false, false, false]);
  // §17.1.1.2 Completed: a retransmitted final gets the same ACK, and is not passed up.
  env.deliver(reply(makeRequest("INVITE", { branch }), 486, "t9"));
  assert.deepEqual(env.sender.sent, [ack]);
  assert.deepEqual(responses, [486]);
  env.clock.advance(32_000);
  assert.equal(env.layer.stats().client, 0, "Timer D ended it");
});

Deno.test("INVITE client after a 2xx keeps only its key and the TU's handlers", async () => {
  const env = setup();
  const responses: number[] = [];
  const { refs, branch } = finishClient(env, "INVITE", 200, responses);
  await collect();
  assert.deepEqual(alive(refs), [false, false, false, true]);
  // RFC 6026 §7.2 Accepted: every 2xx still goes to the TU until Timer M.
  env.deliver(reply(makeRequest("INVITE", { branch }), 200, "t9"));
  assert.deepEqual(responses, [200, 200]);
  env.clock.advance(64 * T1);
  assert.equal(env.layer.stats().client, 0, "Timer M ended it");
});

Deno.test("non-INVITE client after its final keeps only its key", async () => {
  const env = setup();
  const responses: number[] = [];
  const { refs, branch } = finishClient(env, "BYE", 200, responses);
  await collect();
  assert.deepEqual(alive(refs), [false, false, false, false]);
  // §17.1.2.2 Completed absorbs a retransmitted final until Timer K.
  env.deliver(reply(makeRequest("BYE", { branch }), 200, "t9"));
  assert.deepEqual(responses, [200]);
  assert.equal(env.layer.stats().client, 1);
  env.clock.advance(T4);
  assert.equal(env.layer.stats().client, 0);
});
