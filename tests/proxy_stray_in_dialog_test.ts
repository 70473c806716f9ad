/**
 * A request inside a dialog that does not go through us (a To tag, no Route at all) is
 * answered 404 and never forwarded: sipp's BYE for a REGISTER it gave up on, sent to the
 * AOR, must not fork to the user's bindings and wait there 32 s (Timer F). An ACK of that
 * kind is dropped without an answer. The in-dialog requests of a real call through us
 * carry our Record-Route and still reach the callee.
 */
import assert from "node:assert/strict";
import type { SipRequest, SipResponse } from "../src/sip/message.ts";
import { startTestServer, type TestServer } from "./support/test_server.ts";
import { register, TestSipClient } from "./support/sip_client.ts";
import {
  type Call,
  inviteWithAuth,
  isReq,
  isRes,
  sipReply,
  sipRequest,
} from "./support/sip_call.ts";
import { ALICE, BOB, CAROL, DOMAIN } from "./support/accounts.ts";

async function registered(ts: TestServer, who: typeof ALICE): Promise<TestSipClient> {
  const client = await TestSipClient.connect("udp", ts.port("udp"));
  const ok = await register(client, { ...who, expires: 600 });
  assert.equal(ok.status, 200, `${who.user} registers`);
  return client;
}

/** Asserts `client` receives nothing of call `callId` within `ms`. */
async function receivesNothing(client: TestSipClient, callId: string, ms = 600): Promise<void> {
  await assert.rejects(
    client.wait((m) => m.callId === callId, ms),
    /no matching SIP message/,
    `a binding of the AOR got a message of ${callId}`,
  );
}

Deno.test("proxy: a BYE with a To tag and no Route gets 404 and reaches no binding; a BYE along our Record-Route reaches the callee", async () => {
  await using ts = await startTestServer({
    transports: ["udp"],
    accounts: [ALICE, BOB, CAROL],
  });
  // Two bindings of bob, like the benchmark's account: a fork would reach both.
  const bob1 = await registered(ts, BOB);
  const bob2 = await registered(ts, BOB);
  const stray = await TestSipClient.connect("udp", ts.port("udp"));
  const alice = await registered(ts, ALICE);
  const carol = await registered(ts, CAROL);
  try {
    // The BYE sipp sends for a registration it aborts: To tag, no Route, to the AOR.
    const strayCall: Call = { callId: `stray-${crypto.randomUUID()}`, fromTag: "s1", cseq: 3 };
    const strayRequest = (method: string) =>
      sipRequest(stray, {
        method,
        uri: `sip:bob@${DOMAIN}`,
        from: `<sip:bob@${DOMAIN}>;tag=${strayCall.fromTag}`,
        to: `<sip:bob@${DOMAIN}>;tag=nobody-answered`,
        call: strayCall,
      });
    await stray.send(strayRequest("BYE"));
    const refused = await stray.wait(isRes(404, strayCall.callId, "BYE")) as SipResponse;
    assert.equal(refused.reason, "Not Here");
    // An ACK of that kind: no answer, no forwarding.
    await stray.send(strayRequest("ACK"));
    await Promise.all([
      receivesNothing(bob1, strayCall.callId),
      receivesNothing(bob2, strayCall.callId),
      receivesNothing(stray, strayCall.callId),
    ]);

    // A real call alice → carol: its ACK and BYE carry our Record-Route as their Route.
    const call: Call = { callId: `real-${crypto.randomUUID()}`, fromTag: "a1", cseq: 1 };
    await inviteWithAuth(alice, call, ALICE, `sip:carol@${DOMAIN}`);
    const invite = await carol.wait(isReq("INVITE", call.callId)) as SipRequest;
    const rr = invite.getAll("record-route");
    assert.equal(rr.length, 1, "we Record-Route the INVITE");
    const carolContact = `sip:carol@127.0.0.1:${carol.localPort}`;
    await carol.send(
      sipReply(invite, 200, "OK", {
        toTag: "c1",
        extra: [`Record-Route: ${rr[0]}`, `Contact: <${carolContact}>`],
      }),
    );
    const ok = await alice.wait(isRes(200, call.callId)) as SipResponse;
    const inDialog = (method: string, cseq: number) =>
      sipRequest(alice, {
        method,
        uri: carolContact,
        from: `<sip:alice@${DOMAIN}>;tag=${call.fromTag}`,
        to: ok.get("to")!,
        call: { ...call, cseq },
        extra: ok.getAll("record-route").reverse().map((r) => `Route: ${r}`),
      });
    await alice.send(inDialog("ACK", call.cseq));
    await carol.wait(isReq("ACK", call.callId));
    await alice.send(inDialog("BYE", call.cseq + 1));
    const bye = await carol.wait(isReq("BYE", call.callId)) as SipRequest;
    assert.equal(bye.uri, carolContact);
    assert.equal(bye.getAll("route").length, 0, "our Route entry is popped");
    await carol.send(sipReply(bye, 200, "OK"));
    await alice.wait(isRes(200, call.callId, "BYE"));
  } finally {
    for (const c of [bob1, bob2, stray, alice, carol]) c.close();
  }
});
