/**
 * Graceful stop: while a call is being set up the server refuses new registrations and
 * dialogs with 503 + Retry-After, lets the pending INVITE finish, then stops.
 */
import assert from "node:assert/strict";
import { startTestServer } from "./support/test_server.ts";
import { register, registerRequest, TestSipClient } from "./support/sip_client.ts";
import { isReq, isRes, sipReply, sipRequest } from "./support/sip_call.ts";
import type { SipRequest } from "../src/sip/message.ts";
import { BOB } from "./support/accounts.ts";

Deno.test("stop drains: new requests get 503, a call being set up still completes", async () => {
  const ts = await startTestServer({ transports: ["udp"], accounts: [BOB] });
  const caller = await TestSipClient.connect("udp", ts.port("udp"));
  const bob = await TestSipClient.connect("udp", ts.port("udp"));
  const late = await TestSipClient.connect("udp", ts.port("udp"));
  try {
    assert.equal((await register(bob, { ...BOB, expires: 600 })).status, 200);
    const call = { callId: "drain-1", fromTag: "c1", cseq: 1 };
    // A caller of another domain is not challenged, so the INVITE goes straight through.
    await caller.send(sipRequest(caller, {
      method: "INVITE",
      uri: "sip:bob@example.test",
      from: "<sip:carol@pstn.test>;tag=c1",
      to: "<sip:bob@example.test>",
      call,
      contact: `sip:carol@127.0.0.1:${caller.localPort}`,
    }));
    const invite = await bob.wait(isReq("INVITE", "drain-1")) as SipRequest;

    const stopping = ts.server.stop(5000);
    let stopped = false;
    stopping.then(() => stopped = true);

    await late.send(registerRequest(late, { ...BOB, callId: "drain-reg" }, 1));
    const refused = await late.response("drain-reg", 1);
    assert.equal(refused.status, 503);
    assert.equal(refused.get("retry-after"), "5");
    assert.equal(stopped, false, "the server waits for the pending INVITE");

    await bob.send(sipReply(invite, 200, "OK", {
      toTag: "b1",
      extra: [`Contact: <sip:bob@127.0.0.1:${bob.localPort}>`],
    }));
    const ok = await caller.wait(isRes(200, "drain-1"));
    assert.equal(ok.isRequest, false);
    await stopping;
    assert.equal(stopped, true);
  } finally {
    caller.close();
    bob.close();
    late.close();
    await ts.stop();
  }
});
