import assert from "node:assert/strict";
import { defaultConfig } from "../../config/config.ts";
import type { CallEvent } from "../../events.ts";
import type { SipRequest, SipResponse } from "../../sip/message.ts";
import { parseMessage } from "../../sip/parse.ts";
import { ManualClock, TimerWheel } from "../../transaction/timers.ts";
import { testFlow } from "../fixtures_test.ts";
import type { Responder } from "../router.ts";
import { HeldCall } from "./held_call.ts";
import type { CallDeps } from "./types.ts";

function message(text: string): SipRequest {
  return parseMessage(new TextEncoder().encode(text.replace(/\n/g, "\r\n"))) as SipRequest;
}

const INVITE = `INVITE sip:bob@example.test SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKheld
From: "Alice" <sip:alice@example.test>;tag=caller
To: <sip:bob@example.test>
Call-ID: held-1
CSeq: 7 INVITE
Contact: <sip:alice@127.0.0.1:40000>
Content-Type: application/sdp
Content-Length: 9

v=0 offer`;

/** What the caller sends inside the dialog once it knows our tag. */
function inDialog(
  method: string,
  cseq: number,
  toTag: string,
  body = "",
  headers = body ? "Content-Type: application/sdp\n" : "",
): SipRequest {
  return message(`${method} sip:sipws@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bK${method}${cseq}
From: "Alice" <sip:alice@example.test>;tag=caller
To: <sip:bob@example.test>;tag=${toTag}
Call-ID: held-1
CSeq: ${cseq} ${method}
${headers}Content-Length: ${body.length}

${body}`);
}

const UDP = testFlow("udp");

function harness() {
  const clock = new ManualClock();
  const scheduler = new TimerWheel({ clock });
  const sent: SipResponse[] = [];
  const byes: SipRequest[] = [];
  const events: Omit<CallEvent, "at">[] = [];
  const config = defaultConfig();
  config.sip.t1 = 100;
  config.sip.t2 = 400;
  config.sip.timerC = 10_000;
  const deps: CallDeps = {
    transactions: {
      sendRequest: (request) => {
        assert.equal(request.method, "BYE");
        byes.push(request);
        return undefined as never;
      },
      sendStateless: () => Promise.resolve(),
      scheduler,
    },
    transport: {
      localAddress: () => ({ host: "127.0.0.1", port: 5060 }),
      liveFlow: () => undefined,
      listening: () => [],
    },
    config: () => config,
    now: () => clock.now(),
  };
  let onCancel: ((cancel: SipRequest) => void) | undefined;
  const tx: Responder & { cancel(c: SipRequest): void } = {
    respond: (r) => sent.push(r),
    listenForCancel: (fn) => {
      onCancel = fn;
      return true;
    },
    cancel: (c) => onCancel?.(c),
  };
  const call = new HeldCall(
    deps,
    {
      report: (_id, e) => events.push(e),
      changed: () => {},
      finished: () => {},
    },
    message(INVITE),
    testFlow("udp"),
    tx,
  );
  call.start();
  return { call, clock, sent, byes, events, tx };
}

Deno.test("held: one 180 with Alert-Info, 200 with the SDP retransmitted until the ACK", () => {
  const h = harness();
  assert.equal(h.call.ring("<http://x/tone>"), true);
  assert.equal(h.call.ring(), false, "already ringing: no second 180");
  assert.equal(h.sent[0].status, 180);
  assert.equal(h.sent[0].get("alert-info"), "<http://x/tone>");
  h.call.answer("v=0 answer");
  const ok = h.sent[1];
  assert.equal(ok.status, 200);
  assert.equal(ok.bodyText, "v=0 answer");
  assert.ok(ok.get("contact"));
  const tag = /tag=([^;]+)/.exec(ok.get("to")!)![1];
  assert.equal(/tag=([^;]+)/.exec(h.sent[0].get("to")!)![1], tag, "one To tag for 180 and 200");
  assert.equal(h.call.ring(), false, "answered: no 180");
  // §13.3.1.4: at T1, then 2·T1 ... until the ACK.
  h.clock.advance(100);
  assert.equal(h.sent.length, 3);
  h.clock.advance(200);
  assert.equal(h.sent.length, 4);
  h.call.session!.receive(inDialog("ACK", 7, tag), UDP, undefined);
  h.clock.advance(5000);
  assert.equal(h.sent.length, 4, "no retransmission after the ACK");
  assert.equal(h.call.state, "confirmed");
  // A re-INVITE gets the last SDP again, retransmitted over UDP until its own ACK.
  const replies: SipResponse[] = [];
  h.call.session!.receive(inDialog("INVITE", 8, tag, "v=0 hold"), UDP, (r) => replies.push(r));
  assert.equal(replies[0].status, 200);
  assert.equal(replies[0].bodyText, "v=0 answer");
  h.clock.advance(100);
  h.clock.advance(200);
  assert.equal(replies.length, 3, "the re-INVITE's 2xx again at T1, 2·T1");
  assert.equal(replies[2].cseq.seq, 8);
  h.call.session!.receive(inDialog("ACK", 7, tag), UDP, undefined);
  h.clock.advance(400);
  assert.equal(replies.length, 4, "an ACK of the first INVITE does not stop it");
  h.call.session!.receive(inDialog("ACK", 8, tag), UDP, undefined);
  h.clock.advance(5000);
  assert.equal(replies.length, 4, "no retransmission after its ACK");
  // RFC 3515: a NOTIFY's sipfrag is the transfer's progress; other NOTIFYs are not.
  const sipfrag = "Event: refer\nContent-Type: message/sipfrag;version=2.0\n";
  h.call.session!.receive(
    inDialog("NOTIFY", 10, tag, "SIP/2.0 100 Trying\r\n", sipfrag),
    UDP,
    (r) => replies.push(r),
  );
  h.call.session!.receive(
    inDialog("NOTIFY", 11, tag, "SIP/2.0 200 OK\r\n", sipfrag),
    UDP,
    (r) => replies.push(r),
  );
  h.call.session!.receive(
    inDialog("NOTIFY", 12, tag, "x", "Event: dialog\n"),
    UDP,
    (r) => replies.push(r),
  );
  assert.deepEqual(replies.slice(4).map((r) => r.status), [200, 200, 200]);
  h.call.session!.receive(inDialog("BYE", 13, tag), UDP, (r) => replies.push(r));
  assert.equal(replies.at(-1)!.status, 200);
  assert.deepEqual(h.events, [
    { event: "trying", code: 100, reason: "Trying" },
    { event: "ringing", code: 180, reason: "Ringing" },
    { event: "answered", code: 200, reason: "OK" },
    { event: "transfer", code: 100, reason: "Trying" },
    { event: "transfer", code: 200, reason: "OK" },
    { event: "ended", code: 200, reason: "remote hangup" },
  ]);
});

Deno.test("held: no ACK for the 2xx within 64·T1: BYE and ended", () => {
  const h = harness();
  h.call.answer("v=0 answer");
  h.clock.advance(64 * 100 + 400); // the first firing at or past 64·T1
  assert.equal(h.byes.length, 1, "a BYE ends the session (§13.3.1.4)");
  assert.equal(h.byes[0].get("call-id"), "held-1");
  assert.deepEqual(h.events.at(-1), { event: "ended", reason: "no ACK" });
  assert.equal(h.call.state, "ended");
  const count = h.sent.length;
  h.clock.advance(10_000);
  assert.equal(h.sent.length, count, "nothing more is sent");
});

Deno.test("held: the caller's CANCEL gives 487; Timer C gives 408", () => {
  const h = harness();
  h.tx.cancel(message(INVITE));
  assert.equal(h.sent.at(-1)!.status, 487);
  assert.deepEqual(h.events.at(-1), { event: "failed", code: 487, reason: "Request Terminated" });
  const t = harness();
  t.clock.advance(10_000);
  assert.equal(t.sent.at(-1)!.status, 408);
  assert.throws(() => t.call.answer("v=0 late"), /ended/);
});

Deno.test("held: hang-up after the answer is a BYE inside the dialog to the caller's Contact", () => {
  const h = harness();
  h.call.answer("v=0 answer");
  const tag = /tag=([^;]+)/.exec(h.sent[0].get("to")!)![1];
  h.call.session!.receive(inDialog("ACK", 7, tag), UDP, undefined);
  h.call.hangup();
  const bye = h.byes[0];
  assert.equal(bye.uri, "sip:alice@127.0.0.1:40000");
  assert.equal(/tag=([^;]+)/.exec(bye.get("from")!)![1], tag);
  assert.equal(/tag=([^;]+)/.exec(bye.get("to")!)![1], "caller");
  assert.equal(bye.get("call-id"), "held-1");
  assert.equal(bye.cseq.method, "BYE");
  assert.deepEqual(h.events.at(-1), { event: "ended", reason: "hung up" });
  h.call.hangup();
  assert.equal(h.byes.length, 1, "once");
});
