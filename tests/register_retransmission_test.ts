/**
 * A UDP REGISTER retransmitted after its transaction was forgotten (Timer J ran out, or the
 * completed-response ring wrapped over it under load), over real sockets, with 1, 2 and 3
 * workers (with 3, REGISTERs are steered to a thread's socket by their source port): the very
 * request the registrar accepted last for its nonce is recognised and answered 200 with the
 * bindings as they are (src/core/nonce_counts.ts keeps a fingerprint of it next to the
 * nonce-count), where it used to be refused as a nonce-count replay (401 stale=true) although
 * the registration had succeeded. The same credentials with another CSeq are still a replay;
 * with the same Call-ID and CSeq it is answered as a retransmission and applied no second
 * time. Timer J is 64·T1: this rig's T1 of 20 ms makes it 1.28 s, where the product's is 32 s.
 */
import assert from "node:assert/strict";
import type { SipResponse } from "../src/sip/message.ts";
import { tagParam } from "../src/sip/tag.ts";
import { startTestServer } from "./support/test_server.ts";
import { answerChallenge, registerRequest, TestSipClient } from "./support/sip_client.ts";
import { ALICE, DOMAIN } from "./support/accounts.ts";

const T1 = 20;

/** A 401 whose challenge says stale=true: what a replayed nonce-count is answered. */
function assertReplayRefused(answer: SipResponse, what: string): void {
  assert.equal(answer.status, 401, what);
  assert.match(answer.get("www-authenticate") ?? "", /stale=true/i, what);
}

for (const workers of [1, 2, 3]) {
  Deno.test(`register retransmission (${workers} worker${workers > 1 ? "s" : ""}): after its transaction is gone it gets 200 again, a forged reuse of its credentials 401 stale`, async () => {
    await using ts = await startTestServer({
      transports: ["udp"],
      accounts: [ALICE],
      workers,
      configure: (c) => {
        c.sip.t1 = T1;
        c.ping.interval = 0;
      },
    });
    const phone = await TestSipClient.connect("udp", ts.port("udp"));
    try {
      const callId = `retrans-${crypto.randomUUID()}`;
      const o = { ...ALICE, expires: 600, callId };
      await phone.send(registerRequest(phone, o, 1));
      const challenge = await phone.response(callId, 1);
      assert.equal(challenge.status, 401);
      const credentials = answerChallenge(challenge, {
        ...ALICE,
        method: "REGISTER",
        uri: `sip:${DOMAIN}`,
      });
      // One request, sent as is each time it is retransmitted.
      const request = registerRequest(phone, o, 2, credentials);
      await phone.send(request);
      const first = await phone.response(callId, 2);
      assert.equal(first.status, 200);
      const firstTag = tagParam(first.get("to")!);

      // Within Timer J the transaction layer answers from its completed ring: the same 200.
      await phone.send(request);
      const absorbed = await phone.response(callId, 2);
      assert.equal(absorbed.status, 200);
      assert.equal(tagParam(absorbed.get("to")!), firstTag, "the kept 200, byte for byte");

      // After Timer J (64·T1) and a margin for the timer wheel: no transaction is left.
      await new Promise((r) => setTimeout(r, 64 * T1 + 500));
      await phone.send(request);
      const late = await phone.response(callId, 2);
      assert.equal(late.status, 200, "a late retransmission is not a replay");
      assert.notEqual(tagParam(late.get("to")!), firstTag, "processed again, not from the ring");
      const [binding] = ts.server.location.lookup(`alice@${DOMAIN}`);
      assert.equal(binding.contact, phone.contactUri);
      assert.equal(binding.cseq, 2);

      // The same credentials in another request: a replay.
      await phone.send(registerRequest(phone, o, 3, credentials));
      assertReplayRefused(await phone.response(callId, 3), "another CSeq and branch");
      // ... and the replay disarmed the repeat: the original, once its second transaction is
      // gone too, is no longer let through.
      await new Promise((r) => setTimeout(r, 64 * T1 + 500));
      await phone.send(request);
      assertReplayRefused(await phone.response(callId, 2), "the original after a replay");
      // A fresh answer (the next nc) is accepted as ever.
      const next = answerChallenge(challenge, {
        ...ALICE,
        method: "REGISTER",
        uri: `sip:${DOMAIN}`,
        nc: 2,
      });
      const refresh = registerRequest(phone, o, 4, next);
      await phone.send(refresh);
      assert.equal((await phone.response(callId, 4)).status, 200);
      // The same CSeq, Call-ID and credentials with another Contact, late: answered as the
      // retransmission it claims to be, with the bindings as they are, and applied no more.
      await new Promise((r) => setTimeout(r, 64 * T1 + 500));
      const other = refresh.replace(
        phone.contactUri,
        `sip:mallory@127.0.0.2:${phone.localPort}`,
      );
      assert.notEqual(other, refresh);
      await phone.send(other);
      const answered = await phone.response(callId, 4);
      assert.equal(answered.status, 200);
      assert.match(answered.get("contact") ?? "", new RegExp(`<${phone.contactUri}>`));
      assert.doesNotMatch(answered.get("contact") ?? "", /mallory/);
      const bindings = ts.server.location.lookup(`alice@${DOMAIN}`);
      assert.deepEqual(bindings.map((b) => b.contact), [phone.contactUri]);

      // A REGISTER refused after its credentials were accepted (423: Expires under the
      // minimum) is refused again when it comes late, not answered 200.
      const brief = registerRequest(
        phone,
        { ...o, expires: 1 },
        5,
        answerChallenge(challenge, { ...ALICE, method: "REGISTER", uri: `sip:${DOMAIN}`, nc: 3 }),
      );
      await phone.send(brief);
      assert.equal((await phone.response(callId, 5)).status, 423);
      await new Promise((r) => setTimeout(r, 64 * T1 + 500));
      await phone.send(brief);
      assert.equal((await phone.response(callId, 5)).status, 423, "late, refused again");
    } finally {
      phone.close();
    }
  });
}
