import assert from "node:assert/strict";
import { defaultConfig } from "../../config/config.ts";
import type { CallEvent } from "../../events.ts";
import { createResponse, type SipRequest, type SipResponse } from "../../sip/message.ts";
import type { ClientHandlers, ClientTransaction } from "../../transaction/layer.ts";
import { ManualClock, TimerWheel } from "../../transaction/timers.ts";
import type { Target } from "../../transport/types.ts";
import { testFlow } from "../fixtures_test.ts";
import { withSdp } from "./dialog.ts";
import { OutboundCall } from "./outbound_call.ts";
import type { CallDeps, CallSink } from "./types.ts";

interface Leg {
  invite: SipRequest;
  target: Target;
  handlers: ClientHandlers;
  cancels: number;
}

/** An OutboundCall over a fake transaction layer: what it sends is recorded, time is manual. */
function harness(hops = 2, offer?: string) {
  const clock = new ManualClock();
  const scheduler = new TimerWheel({ clock });
  const legs: Leg[] = [];
  const requests: SipRequest[] = [];
  const stateless: SipRequest[] = [];
  const events: Omit<CallEvent, "at">[] = [];
  let finished = false;
  const deps: CallDeps = {
    transactions: {
      sendRequest(request: SipRequest, target: Target, handlers: ClientHandlers) {
        requests.push(request);
        const leg: Leg = { invite: request, target, handlers, cancels: 0 };
        if (request.method === "INVITE") legs.push(leg);
        return {
          request,
          isInvite: request.method === "INVITE",
          state: "Calling",
          cancel: () => leg.cancels++,
        } as ClientTransaction;
      },
      sendStateless(message) {
        stateless.push(message as SipRequest);
        return Promise.resolve();
      },
      scheduler,
    },
    transport: {
      localAddress: () => ({ host: "127.0.0.1", port: 5060 }),
      liveFlow: () => undefined,
      listening: () => [],
    },
    config: () => {
      const c = defaultConfig();
      c.api.ackTimeout = 2;
      return c;
    },
    now: () => clock.now(),
  };
  const sink: CallSink = {
    report: (_id, e) => events.push(e),
    changed: () => {},
    finished: () => finished = true,
  };
  const call = new OutboundCall(deps, sink, {
    callId: "c1@sipws",
    domain: "example.test",
    user: "bob",
    from: "<sip:1000@example.test>",
    headers: [],
    maxForwards: 70,
    sdp: offer,
    timeoutMs: 30_000,
    hops: Array.from({ length: hops }, (_, i) => ({
      uri: `sip:bob@10.0.0.${i + 1}`,
      target: { transport: "udp" as const, host: `10.0.0.${i + 1}`, port: 5060 },
    })),
  }, "fromtag");
  const respond = (leg: number, status: number, sdp?: string) => {
    const l = legs[leg];
    const r = createResponse(l.invite, status, undefined, `callee${leg}`);
    r.append("Contact", `<sip:bob@10.0.0.${leg + 1}>`);
    if (sdp) withSdp(r, sdp);
    l.handlers.onResponse(r as SipResponse, testFlow("udp"));
  };
  return {
    call,
    clock,
    legs,
    requests,
    stateless,
    events,
    respond,
    get finished() {
      return finished;
    },
  };
}

const names = (events: { event: string }[]) => events.map((e) => e.event);

Deno.test("outbound: forks, first 2xx wins, the other leg is cancelled, a late 2xx is hung up", () => {
  const h = harness(2, "v=0 offer");
  assert.ok(h.call.start());
  assert.equal(h.legs.length, 2);
  assert.equal(h.legs[0].invite.callId, h.legs[1].invite.callId);
  assert.notEqual(
    h.legs[0].invite.topVia.params.get("branch"),
    h.legs[1].invite.topVia.params.get("branch"),
  );
  assert.match(h.legs[0].invite.get("from")!, /;tag=fromtag$/);
  h.respond(0, 180);
  h.respond(1, 180); // one ringing event per call, not per leg
  h.respond(0, 200, "v=0 answer");
  assert.deepEqual(names(h.events), ["trying", "ringing", "answered"]);
  assert.equal(h.events[2].sdp, "v=0 answer");
  assert.equal(h.legs[1].cancels, 1, "the other leg is cancelled");
  assert.equal(h.stateless.length, 1);
  const ack = h.stateless[0];
  assert.equal(ack.method, "ACK");
  assert.equal(ack.uri, "sip:bob@10.0.0.1", "ACK to the remote target");
  assert.equal(ack.bodyText, "", "early offer: the ACK has no body");
  // A retransmitted 2xx gets the same ACK again (§13.2.2.4).
  h.respond(0, 200, "v=0 answer");
  assert.equal(h.stateless.length, 2);
  assert.equal(h.stateless[1], ack);
  // The other leg answered anyway: ACK and BYE it.
  h.respond(1, 200, "v=0 other");
  assert.equal(h.stateless[2].method, "ACK");
  assert.match(h.stateless[2].get("to")!, /tag=callee1/);
  const bye = h.requests.find((r) => r.method === "BYE")!;
  assert.match(bye.get("to")!, /tag=callee1/);
  assert.equal(h.call.state, "confirmed");
  // Hang up: BYE on the winning leg, ended.
  h.call.hangup();
  const byes = h.requests.filter((r) => r.method === "BYE");
  assert.equal(byes.length, 2);
  assert.match(byes[1].get("to")!, /tag=callee0/);
  assert.equal(byes[1].cseq.seq, 2);
  assert.deepEqual(names(h.events), ["trying", "ringing", "answered", "ended"]);
  assert.ok(h.finished);
});

Deno.test("outbound: late offer waits for the answer; the ACK carries it", () => {
  const h = harness(1);
  h.call.start();
  assert.equal(h.legs[0].invite.bodyText, "", "no offer in the INVITE");
  h.respond(0, 200, "v=0 callee-offer");
  assert.equal(h.events.at(-1)!.sdp, "v=0 callee-offer");
  assert.equal(h.stateless.length, 0, "no ACK before the answer");
  h.call.ack("v=0 posted-answer");
  assert.equal(h.stateless[0].bodyText, "v=0 posted-answer");
  assert.equal(h.stateless[0].get("content-type"), "application/sdp");
  assert.throws(() => h.call.ack("v=0 again"), /not waiting/);
  h.clock.advance(5000);
  assert.equal(h.requests.filter((r) => r.method === "BYE").length, 0, "no BYE: it was answered");
});

Deno.test("outbound: late offer with no answer in api.ack_timeout: ACK, then BYE", () => {
  const h = harness(1);
  h.call.start();
  h.respond(0, 200, "v=0 callee-offer");
  h.clock.advance(1900);
  assert.equal(h.stateless.length, 0);
  h.clock.advance(200);
  assert.equal(h.stateless[0].method, "ACK");
  assert.equal(h.requests.at(-1)!.method, "BYE");
  assert.deepEqual(names(h.events), ["trying", "answered", "ended"]);
});

Deno.test("outbound: every leg fails: the best final is reported (486 over 408)", () => {
  const h = harness(2, "v=0 offer");
  h.call.start();
  h.legs[0].handlers.onTimeout();
  h.respond(1, 486);
  assert.deepEqual(h.events.at(-1), { event: "failed", code: 486, reason: "Busy Here" });
  assert.ok(h.finished);
});

Deno.test("outbound: the ringing timeout cancels every leg and reports 408", () => {
  const h = harness(2, "v=0 offer");
  h.call.start();
  h.respond(0, 180);
  h.clock.advance(30_000);
  assert.deepEqual(h.legs.map((l) => l.cancels), [1, 1]);
  h.respond(0, 487);
  h.respond(1, 487);
  assert.deepEqual(h.events.at(-1), { event: "failed", code: 408, reason: "No Answer" });
});
