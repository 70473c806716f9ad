import assert from "node:assert/strict";
import v8 from "node:v8";
import vm from "node:vm";
import { createResponse, type SipRequest, type SipResponse } from "../sip/message.ts";
import { parseMessage } from "../sip/parse.ts";
import type { ClientHandlers, ClientTransaction } from "../transaction/layer.ts";
import type { Flow, Target } from "../transport/types.ts";
import { ManualClock, TimerWheel } from "../transaction/timers.ts";
import { ProxyContext } from "./proxy_context.ts";
import { testFlow } from "./fixtures_test.ts";

const flow: Flow = testFlow("udp");

function request(method = "INVITE"): SipRequest {
  const text = `${method} sip:bob@example.test SIP/2.0\r\n` +
    "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKcaller\r\n" +
    "From: <sip:alice@example.test>;tag=a\r\nTo: <sip:bob@example.test>\r\n" +
    `Call-ID: ctx\r\nCSeq: 1 ${method}\r\nContent-Length: 0\r\n\r\n`;
  return parseMessage(new TextEncoder().encode(text)) as SipRequest;
}

/** A branch as the fake transaction layer saw it. */
interface FakeBranch {
  request: SipRequest;
  handlers: ClientHandlers;
  cancels: number;
  /** Delivers a response from downstream with our Via on top, as the transaction would. */
  answer(status: number, tag?: string): void;
}

function harness(method = "INVITE", timers = { timerC: 60_000, cancelGrace: 60_000 }) {
  const branches: FakeBranch[] = [];
  const upstream: SipResponse[] = [];
  const transactions = {
    sendRequest(req: SipRequest, _target: Target, handlers: ClientHandlers): ClientTransaction {
      const b: FakeBranch = {
        request: req,
        handlers,
        cancels: 0,
        answer(status, tag = `t${branches.indexOf(b)}`) {
          handlers.onResponse(createResponse(req, status, undefined, tag), flow);
        },
      };
      branches.push(b);
      return {
        request: req,
        isInvite: req.method === "INVITE",
        state: "Calling",
        cancel: () => b.cancels++,
      };
    },
    // A done context forwards 2xx retransmissions on the caller's flow itself.
    sendStateless: (m: SipResponse, target: Target) => {
      assert.deepEqual(target, { flow });
      upstream.push(m);
      return Promise.resolve();
    },
  };
  const original = request(method);
  const clock = new ManualClock();
  const scheduler = new TimerWheel({ clock });
  let context = new ProxyContext(
    { transactions, scheduler, ...timers },
    original,
    { respond: (r) => upstream.push(r), listenForCancel: () => true },
    flow,
  );
  const fork = (n: number) => {
    for (let i = 0; i < n; i++) {
      const out = original.clone();
      out.prepend("Via", `SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-sw-${i}`);
      context.addBranch(out, { transport: "udp", host: "127.0.0.1", port: 5070 + i });
    }
  };
  return {
    get context() {
      return context;
    },
    /** Lets go of the context (a test of what stays reachable without it). */
    drop: () => context = undefined as unknown as ProxyContext,
    branches,
    upstream,
    fork,
    clock,
    statuses: () => upstream.map((r) => r.status),
  };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("context: provisionals forwarded, our Via stripped, 100 hop-by-hop", () => {
  const h = harness();
  h.fork(1);
  h.branches[0].answer(100);
  h.branches[0].answer(180);
  assert.deepEqual(h.statuses(), [180]);
  assert.equal(h.upstream[0].getAll("via").length, 1, "only the caller's Via is left");
  assert.match(h.upstream[0].getAll("via")[0], /z9hG4bKcaller/);
});

Deno.test("context: a 2xx goes up at once and cancels the other branches; every 2xx is forwarded", async () => {
  const h = harness();
  h.fork(3);
  h.branches[0].answer(180);
  h.branches[1].answer(180);
  h.branches[1].answer(200);
  assert.deepEqual(h.statuses(), [180, 180, 200]);
  assert.equal(h.branches[0].cancels, 1);
  assert.equal(h.branches[2].cancels, 1);
  assert.equal(h.branches[1].cancels, 0);
  // RFC 6026: a retransmission of the 2xx and another fork's 2xx still go up.
  h.branches[1].answer(200);
  h.branches[0].answer(200, "other");
  assert.deepEqual(h.statuses(), [180, 180, 200, 200, 200]);
  // A cancelled branch's 487 does not produce a second final.
  h.branches[2].answer(487);
  await tick();
  assert.deepEqual(h.statuses(), [180, 180, 200, 200, 200]);
  // Done (the caller's request and transaction let go): a 2xx retransmission within Timer
  // M still goes up, on the caller's flow; a late timeout or transport error of a settled
  // branch changes nothing.
  h.branches[1].answer(200);
  h.branches[1].handlers.onTimeout();
  h.branches[2].handlers.onTransportError(new Error("late"));
  await tick();
  assert.deepEqual(h.statuses(), [180, 180, 200, 200, 200, 200]);
});

Deno.test("context: best response after every branch answered (§16.7: 6xx > lowest class, 503→500)", async () => {
  const a = harness();
  a.fork(3);
  a.branches[0].answer(486);
  a.branches[1].answer(404);
  assert.deepEqual(a.statuses(), [], "no final while a branch is pending");
  a.branches[2].answer(302);
  await tick();
  assert.deepEqual(a.statuses(), [302], "the lowest class wins");

  const b = harness();
  b.fork(3);
  b.branches[0].answer(486);
  b.branches[1].answer(603);
  assert.equal(b.branches[2].cancels, 1, "a 6xx cancels the rest");
  b.branches[2].answer(487);
  await tick();
  assert.deepEqual(b.statuses(), [603]);

  // Every branch answers in order; then the one final sent upstream.
  const cases: [answers: number[], best: number, why: string][] = [
    [[503, 408], 408, "4xx is a lower class than 5xx"],
    [[503], 500, "a 503 is not passed up as is (§16.7 step 6)"],
    [[408, 480], 480, "a real answer beats a timeout of the same class"],
  ];
  for (const [answers, best, why] of cases) {
    const h = harness();
    h.fork(answers.length);
    answers.forEach((status, i) => h.branches[i].answer(status));
    await tick();
    assert.deepEqual(h.statuses(), [best], why);
  }
});

Deno.test("context: timeouts and transport errors become 408/503-as-500; CANCEL turns a timeout into 487", async () => {
  const a = harness();
  a.fork(2);
  a.branches[0].handlers.onTimeout();
  a.branches[1].handlers.onTransportError(new Error("refused"));
  await tick();
  assert.deepEqual(a.statuses(), [408], "the 408 (4xx) beats the synthesized 503 (5xx)");

  const b = harness();
  b.fork(1);
  b.context.cancel();
  assert.equal(b.branches[0].cancels, 1);
  b.branches[0].handlers.onTimeout();
  await tick();
  assert.deepEqual(b.statuses(), [487]);
});

Deno.test("context: Timer C cancels a ringing branch; the grace period ends it with 408", () => {
  const h = harness("INVITE", { timerC: 20, cancelGrace: 30 });
  h.fork(1);
  h.branches[0].answer(180);
  h.clock.advance(35);
  assert.equal(h.branches[0].cancels, 1, "Timer C sent a CANCEL");
  h.clock.advance(60);
  assert.deepEqual(h.statuses(), [180, 408]);
  h.context.close();
});

Deno.test("context: non-INVITE forks: first 2xx wins, no CANCEL", async () => {
  const h = harness("MESSAGE");
  h.fork(2);
  h.branches[0].answer(200);
  h.branches[1].answer(200);
  await tick();
  assert.deepEqual(h.statuses(), [200]);
  assert.equal(h.branches[1].cancels, 0);
});

Deno.test("context: once done, a branch's handlers keep neither the context nor its messages", async () => {
  v8.setFlagsFromString("--expose-gc");
  const gc = vm.runInNewContext("gc") as () => void;
  const h = harness();
  h.fork(1);
  h.branches[0].answer(200);
  await tick(); // the context disposes itself in a microtask
  // What the client transaction keeps for Timer M: the handlers, nothing else of the call.
  const { handlers } = h.branches[0];
  const refs = [h.context, h.branches[0].request, h.upstream[0]].map((o) => new WeakRef(o));
  h.branches.length = h.upstream.length = 0;
  h.drop();
  await tick();
  gc();
  assert.deepEqual(refs.map((r) => r.deref() !== undefined), [false, false, false]);
  // A retransmitted 2xx still goes up on the caller's flow.
  const again = createResponse(request(), 200, undefined, "t0");
  again.prepend("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-sw-0");
  handlers.onResponse(again, flow);
  assert.deepEqual(h.statuses(), [200]);
  assert.equal(h.upstream[0].getAll("via").length, 1, "our Via stripped");
});
