/**
 * Proxy integration over real sockets with the test UA: a WebSocket caller (a browser's
 * `.invalid` Via/Contact) calls a UDP phone and back; double Record-Route, one Via toward
 * the browser, in-dialog BYE routed to the browser by the flow token; plus the refusal
 * rules (407, 403, 404, 480, 483, 482) and forking with CANCEL of the losing branch.
 */
import assert from "node:assert/strict";
import type { SipRequest, SipResponse } from "../src/sip/message.ts";
import { parseNameAddr } from "../src/sip/name_addr.ts";
import { countersOf, startTestServer, type TestServer } from "./support/test_server.ts";
import { answerChallenge, register, TestSipClient } from "./support/sip_client.ts";
import { until } from "./support/poll.ts";
import {
  type Call,
  inviteWithAuth,
  isReq,
  isRes,
  type RequestOptions,
  sipReply,
  sipRequest,
} from "./support/sip_call.ts";
import { ALICE, BOB, DOMAIN } from "./support/accounts.ts";

/**
 * The call in main's dialog tracker once it is in `state`: a call a worker holds reports its
 * changes through a ring, which may come after the message the test saw.
 */
function dialogIn(ts: TestServer, callId: string, state: "early" | "confirmed" | "terminated") {
  return until(
    `dialog ${state}`,
    () => {
      const dialog = ts.server.dialogs.get(callId);
      return dialog?.state === state ? dialog : undefined;
    },
    10_000,
    () => JSON.stringify(ts.server.dialogs.get(callId)),
  );
}

function sdp(size: number): string {
  const lines = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0"];
  lines.push("m=audio 40000 RTP/AVP 0");
  let i = 0;
  while (lines.join("\r\n").length < size) {
    lines.push(`a=candidate:${i++} 1 udp 2122260223 127.0.0.1 ${40000 + i} typ host`);
  }
  return lines.join("\r\n") + "\r\n";
}

async function registered(
  ts: TestServer,
  transport: "udp" | "tcp" | "ws" | "wss",
  who: typeof ALICE,
) {
  const client = await TestSipClient.connect(transport, ts.port(transport));
  const ok = await register(client, { ...who, expires: 600 });
  assert.equal(ok.status, 200, `${who.user} registers over ${transport}`);
  return client;
}

for (const wsTransport of ["ws", "wss"] as const) {
  Deno.test(`proxy: ${wsTransport} caller → udp callee: double Record-Route, one Via back, BYE to the browser by flow token`, async () => {
    await using ts = await startTestServer({
      transports: ["udp", wsTransport],
      accounts: [ALICE, BOB],
    });
    const alice = await registered(ts, wsTransport, ALICE);
    const bob = await registered(ts, "udp", BOB);
    try {
      const call: Call = { callId: `ws-call-${crypto.randomUUID()}`, fromTag: "atag1", cseq: 1 };
      const offer = sdp(12000);
      await inviteWithAuth(alice, call, ALICE, `sip:bob@${DOMAIN}`, [
        "Session-Expires: 1800;refresher=uac",
        "Min-SE: 90",
        "Supported: timer",
      ], offer);

      const invite = await bob.wait(isReq("INVITE", call.callId)) as SipRequest;
      assert.equal(invite.uri, bob.contactUri, "Request-URI is the registered contact");
      assert.equal(invite.get("max-forwards"), "69");
      assert.equal(
        invite.get("session-expires"),
        "1800;refresher=uac",
        "Session-Expires untouched",
      );
      assert.equal(invite.get("min-se"), "90");
      assert.equal(invite.bodyText, offer, "the whole SDP arrives");
      assert.equal(invite.get("proxy-authorization"), undefined, "our credentials are consumed");
      const vias = invite.getAll("via");
      assert.equal(vias.length, 2);
      assert.match(vias[0], /^SIP\/2\.0\/UDP 127\.0\.0\.1:\d+;branch=z9hG4bK/);
      const rr = invite.getAll("record-route");
      assert.equal(
        rr.length,
        2,
        `two Record-Route entries when ${wsTransport} turns into udp: ${rr}`,
      );
      const top = parseNameAddr(rr[0]).uri;
      const bottom = parseNameAddr(rr[1]).uri;
      assert.equal(top.port, ts.port("udp"));
      assert.equal(top.params.get("transport"), "udp");
      assert.ok(top.params.has("lr"));
      assert.equal(bottom.port, ts.port(wsTransport));
      assert.equal(bottom.params.get("transport"), wsTransport);
      assert.ok(bottom.params.has("lr"));

      const bobContact = `sip:bob@127.0.0.1:${bob.localPort}`;
      const rrHeaders = rr.map((r) => `Record-Route: ${r}`);
      await bob.send(sipReply(invite, 180, "Ringing", { toTag: "btag1", extra: rrHeaders }));
      const ringing = await alice.wait(isRes(180, call.callId)) as SipResponse;
      assert.equal(ringing.getAll("via").length, 1, "exactly one Via toward the browser");
      await dialogIn(ts, call.callId, "early");

      await bob.send(
        sipReply(invite, 200, "OK", {
          toTag: "btag1",
          extra: [
            ...rrHeaders,
            `Contact: <${bobContact}>`,
            "Session-Expires: 1800;refresher=uac",
            "Content-Type: application/sdp",
          ],
          body: sdp(3000),
        }),
      );
      const ok = await alice.wait(isRes(200, call.callId)) as SipResponse;
      assert.equal(ok.getAll("via").length, 1, "exactly one Via on the 200 toward the browser");
      assert.equal(ok.getAll("record-route").length, 2);
      assert.equal(ok.get("session-expires"), "1800;refresher=uac");
      const confirmed = await dialogIn(ts, call.callId, "confirmed");
      assert.equal(confirmed?.caller.transport, wsTransport);
      assert.equal(confirmed?.callee?.transport, "udp");
      assert.equal(confirmed?.callee?.remote, `127.0.0.1:${bob.localPort}`);
      assert.ok(confirmed?.answeredAt);

      // The browser's route set is the Record-Route reversed (§12.1.2).
      const aliceRoutes = [...ok.getAll("record-route")].reverse().map((r) => `Route: ${r}`);
      const dialogTo = ok.get("to")!;
      const from = `<sip:alice@${DOMAIN}>;tag=${call.fromTag}`;
      /** A request of alice's inside the dialog, along her route set. */
      const inDialog = (method: string, c: Call, more: Partial<RequestOptions> = {}) =>
        alice.send(
          sipRequest(alice, {
            method,
            uri: bobContact,
            from,
            to: dialogTo,
            call: c,
            extra: aliceRoutes,
            ...more,
          }),
        );
      await inDialog("ACK", call);
      const ack = await bob.wait(isReq("ACK", call.callId)) as SipRequest;
      assert.equal(ack.uri, bobContact);
      assert.equal(ack.getAll("route").length, 0, "our Route entries are popped");

      // Hold: a re-INVITE inside the dialog is routed by the route set, never challenged.
      const reinvite = { ...call, cseq: call.cseq + 1 };
      await inDialog("INVITE", reinvite, {
        contact: alice.contactUri,
        body: offer.replace("m=audio", "a=sendonly\r\nm=audio"),
      });
      // The re-INVITE by its CSeq: on a loaded machine the initial INVITE's retransmission
      // (T1 passed before the 180) may be waiting ahead of it.
      const hold = await bob.wait((m) =>
        isReq("INVITE", call.callId)(m) && m.cseq.seq === reinvite.cseq
      ) as SipRequest;
      assert.equal(hold.cseq.seq, reinvite.cseq);
      assert.equal(hold.getAll("record-route").length, 0, "no Record-Route inside a dialog");
      await bob.send(sipReply(hold, 200, "OK", { extra: [`Contact: <${bobContact}>`] }));
      const held = await alice.wait((m) =>
        !m.isRequest && m.status === 200 && m.cseq.seq === reinvite.cseq
      ) as SipResponse;
      assert.equal(held.getAll("via").length, 1);
      await inDialog("ACK", reinvite);
      assert.equal(
        ((await bob.wait(isReq("ACK", call.callId))) as SipRequest).cseq.seq,
        reinvite.cseq,
      );

      // BYE from the phone: its route set is the Record-Route in order; the target is
      // the browser's .invalid contact, reachable only by the flow.
      const bobRoutes = rr.map((r) => `Route: ${r}`);
      const byeCall = { ...call, cseq: 1 };
      await bob.send(
        sipRequest(bob, {
          method: "BYE",
          uri: alice.contactUri,
          from: `${invite.get("to")};tag=btag1`,
          to: invite.get("from")!,
          call: byeCall,
          extra: bobRoutes,
        }),
      );
      const bye = await alice.wait(isReq("BYE", call.callId)) as SipRequest;
      assert.equal(bye.uri, alice.contactUri);
      assert.equal(bye.getAll("route").length, 0);
      await alice.send(sipReply(bye, 200, "OK"));
      const byeOk = await bob.wait(isRes(200, call.callId, "BYE")) as SipResponse;
      assert.equal(byeOk.getAll("via").length, 1);
      const ended = await dialogIn(ts, call.callId, "terminated");
      assert.ok(ended?.endedAt);
    } finally {
      alice.close();
      bob.close();
    }
  });
}

/** A request from a caller of another domain (`sip:x@pstn.test`, no credentials) to `uri`. */
function foreignRequest(
  client: TestSipClient,
  method: string,
  uri: string,
  callId: string,
  body?: string,
): string {
  const call = { callId, fromTag: "x", cseq: 1 };
  return sipRequest(client, {
    method,
    uri,
    from: "<sip:x@pstn.test>;tag=x",
    to: `<${uri}>`,
    call,
    body,
  });
}

/** Sends one request and returns its final response. */
async function finalFor(
  client: TestSipClient,
  text: string,
  callId: string,
  method: string,
): Promise<SipResponse> {
  await client.send(text);
  return await client.wait((m) =>
    !m.isRequest && m.status >= 200 && m.callId === callId && m.cseq.method === method
  ) as SipResponse;
}

Deno.test("proxy refusals: 403 not you, 404 unknown, 480 offline, 403 relay, 483 hops; foreign callers pass unchallenged", async () => {
  await using ts = await startTestServer({
    transports: ["udp"],
    accounts: [ALICE, BOB, { ...BOB, user: "carol" }],
  });
  const alice = await TestSipClient.connect("udp", ts.port("udp"));
  const bob = await TestSipClient.connect("udp", ts.port("udp"));
  try {
    const authed = async (from: string, target: string, callId: string) => {
      const call: Call = { callId, fromTag: "f", cseq: 1 };
      const text = sipRequest(alice, {
        method: "MESSAGE",
        uri: target,
        from: `<sip:${from}@${DOMAIN}>;tag=f`,
        to: `<${target}>`,
        call,
      });
      const challenge = await finalFor(alice, text, callId, "MESSAGE");
      assert.equal(challenge.status, 407);
      const auth = answerChallenge(challenge, { ...ALICE, method: "MESSAGE", uri: target });
      call.cseq = 2;
      return await finalFor(
        alice,
        sipRequest(alice, {
          method: "MESSAGE",
          uri: target,
          from: `<sip:${from}@${DOMAIN}>;tag=f`,
          to: `<${target}>`,
          call,
          extra: [`Proxy-Authorization: ${auth}`],
        }),
        callId,
        "MESSAGE",
      );
    };
    assert.equal(
      (await authed("carol", `sip:bob@${DOMAIN}`, "r1")).status,
      403,
      "alice's credentials, carol's From",
    );
    assert.equal((await authed("alice", `sip:nobody@${DOMAIN}`, "r2")).status, 404);
    assert.equal(
      (await authed("alice", `sip:bob@${DOMAIN}`, "r3")).status,
      480,
      "bob is not registered",
    );
    assert.equal(
      (await authed("alice", "sip:someone@elsewhere.test", "r4")).status,
      403,
      "other domains refused",
    );

    // From another domain to another domain: no open relay (no challenge either).
    const relayed = await finalFor(
      alice,
      foreignRequest(alice, "MESSAGE", "sip:y@elsewhere.test", "r5"),
      "r5",
      "MESSAGE",
    );
    assert.equal(relayed.status, 403);

    assert.equal((await register(bob, { ...BOB, expires: 600 })).status, 200);
    const tooMany = await finalFor(
      alice,
      foreignRequest(alice, "OPTIONS", `sip:bob@${DOMAIN}`, "r6").replace(
        "Max-Forwards: 70",
        "Max-Forwards: 0",
      ),
      "r6",
      "OPTIONS",
    );
    assert.equal(tooMany.status, 483);

    // A caller from another domain reaches bob without a challenge (decided: we take calls).
    await alice.send(
      foreignRequest(alice, "MESSAGE", `sip:bob@${DOMAIN}`, "r7", "hello"),
    );
    const message = await bob.wait(isReq("MESSAGE", "r7")) as SipRequest;
    assert.equal(message.bodyText, "hello");
    assert.equal(message.get("max-forwards"), "69");
    await bob.send(sipReply(message, 200, "OK", { toTag: "bt" }));
    const delivered = await alice.response("r7", 1);
    assert.equal(delivered.status, 200);
    assert.equal(delivered.getAll("via").length, 1);
  } finally {
    alice.close();
    bob.close();
  }
});

Deno.test("proxy loop: a contact pointing back at the proxy ends in 482, not a storm", async () => {
  await using ts = await startTestServer({ transports: ["udp"], accounts: [ALICE, BOB] });
  const alice = await TestSipClient.connect("udp", ts.port("udp"));
  const registrar = await TestSipClient.connect("udp", ts.port("udp"));
  try {
    const ok = await register(registrar, {
      ...BOB,
      expires: 600,
      contact: `sip:bob@127.0.0.1:${ts.port("udp")}`,
    });
    assert.equal(ok.status, 200);
    const res = await finalFor(
      alice,
      foreignRequest(alice, "OPTIONS", `sip:bob@${DOMAIN}`, "loop1"),
      "loop1",
      "OPTIONS",
    );
    assert.equal(res.status, 482, `${res.status} ${res.reason}`);
    assert.equal(res.getAll("via").length, 1);
    const forwarded = (await countersOf(ts)).total("sip_messages_out_total", { method: "OPTIONS" });
    assert.ok(forwarded <= 3, `forwarded ${forwarded} times before the loop was seen`);
  } finally {
    alice.close();
    registrar.close();
  }
});

Deno.test("proxy forking: bob on UDP and on TCP (reached over his own connection) both ring; the first 200 wins, the other is cancelled", async () => {
  await using ts = await startTestServer({ transports: ["udp", "tcp"], accounts: [ALICE, BOB] });
  const alice = await TestSipClient.connect("udp", ts.port("udp"));
  const bobUdp = await registered(ts, "udp", BOB);
  const bobTcp = await registered(ts, "tcp", BOB);
  try {
    assert.equal(ts.server.location.lookup(`bob@${DOMAIN}`).length, 2);
    const call: Call = { callId: `fork-${crypto.randomUUID()}`, fromTag: "af", cseq: 1 };
    const from = `<sip:alice@${DOMAIN}>;tag=af`;
    await inviteWithAuth(alice, call, ALICE, `sip:bob@${DOMAIN}`);
    const [inviteUdp, inviteTcp] = await Promise.all([
      bobUdp.wait(isReq("INVITE", call.callId)),
      bobTcp.wait(isReq("INVITE", call.callId)),
    ]) as SipRequest[];
    assert.equal(
      inviteTcp.uri,
      bobTcp.contactUri,
      "the TCP contact's own port has no listener: the connection is used",
    );
    assert.equal(inviteTcp.getAll("record-route").length, 2, "udp in, tcp out: two entries");
    assert.equal(inviteUdp.getAll("record-route").length, 1, "udp in, udp out: one entry");
    await bobUdp.send(sipReply(inviteUdp, 180, "Ringing", { toTag: "u1" }));
    await bobTcp.send(sipReply(inviteTcp, 180, "Ringing", { toTag: "t1" }));
    await alice.wait(isRes(180, call.callId));
    await alice.wait(isRes(180, call.callId));
    const rr = inviteTcp.getAll("record-route").map((r) => `Record-Route: ${r}`);
    await bobTcp.send(
      sipReply(inviteTcp, 200, "OK", {
        toTag: "t1",
        extra: [...rr, `Contact: <${bobTcp.contactUri}>`],
      }),
    );
    const ok = await alice.wait(isRes(200, call.callId)) as SipResponse;
    assert.match(ok.get("to")!, /tag=t1/);

    // The losing branch gets a CANCEL; its 487 is ACKed by the proxy, not passed up.
    const cancel = await bobUdp.wait(isReq("CANCEL", call.callId)) as SipRequest;
    await bobUdp.send(sipReply(cancel, 200, "OK"));
    await bobUdp.send(sipReply(inviteUdp, 487, "Request Terminated", { toTag: "u1" }));
    await bobUdp.wait(isReq("ACK", call.callId));

    // ACK and an in-dialog BYE from the TCP phone travel on its connection and back.
    const routes = [...ok.getAll("record-route")].reverse().map((r) => `Route: ${r}`);
    await alice.send(
      sipRequest(alice, {
        method: "ACK",
        uri: bobTcp.contactUri,
        from,
        to: ok.get("to")!,
        call,
        extra: routes,
      }),
    );
    await bobTcp.wait(isReq("ACK", call.callId));
    const aliceContact = alice.contactUri;
    await bobTcp.send(
      sipRequest(bobTcp, {
        method: "BYE",
        uri: aliceContact,
        from: ok.get("to")!,
        to: from,
        call: { ...call, cseq: 10 },
        extra: inviteTcp.getAll("record-route").map((r) => `Route: ${r}`),
      }),
    );
    const bye = await alice.wait(isReq("BYE", call.callId)) as SipRequest;
    await alice.send(sipReply(bye, 200, "OK"));
    assert.equal((await bobTcp.wait(isRes(200, call.callId, "BYE"))).isRequest, false);
    await assert.rejects(
      alice.wait(isRes(487, call.callId), 300),
      "the loser's 487 never reaches the caller",
    );
    assert.equal((await dialogIn(ts, call.callId, "terminated")).callee?.transport, "tcp");
  } finally {
    alice.close();
    bobUdp.close();
    bobTcp.close();
  }
});

Deno.test("proxy: MESSAGE from a UDP phone to a browser on WS, delivered on its flow", async () => {
  await using ts = await startTestServer({ transports: ["udp", "ws"], accounts: [ALICE, BOB] });
  const alice = await registered(ts, "ws", ALICE);
  const bob = await TestSipClient.connect("udp", ts.port("udp"));
  try {
    const target = `sip:alice@${DOMAIN}`;
    const call: Call = { callId: "msg-ws", fromTag: "b", cseq: 1 };
    const msg = { method: "MESSAGE", uri: target, from: `<sip:bob@${DOMAIN}>;tag=b`, call };
    const to = `<${target}>`;
    const challenge = await finalFor(
      bob,
      sipRequest(bob, { ...msg, to, body: "hi" }),
      call.callId,
      "MESSAGE",
    );
    assert.equal(challenge.status, 407);
    call.cseq = 2;
    const auth = answerChallenge(challenge, { ...BOB, method: "MESSAGE", uri: target });
    await bob.send(
      sipRequest(bob, { ...msg, to, body: "hi ☃", extra: [`Proxy-Authorization: ${auth}`] }),
    );
    const message = await alice.wait(isReq("MESSAGE", call.callId)) as SipRequest;
    assert.equal(message.uri, alice.contactUri);
    assert.equal(message.bodyText, "hi ☃");
    assert.match(message.getAll("via")[0], /^SIP\/2\.0\/WS /);
    await alice.send(sipReply(message, 200, "OK", { toTag: "a" }));
    assert.equal((await bob.response(call.callId, 2)).status, 200);
  } finally {
    alice.close();
    bob.close();
  }
});
