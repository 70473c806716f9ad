/**
 * Proof of `POST /dialog/invite` with real peers: sipws places calls over UDP
 * to a sipp UAS registered as bob, a `Deno.serve` control server receives the events.
 * With an offer (ACK at once) and without (late offer: the 200's offer goes out in
 * `answered`, the answer posted to `/dialog/{callid}/ack` is what the ACK carries), DELETE
 * before the answer (CANCEL) and after (BYE), the ringing timeout (CANCEL), the late
 * offer nobody answers (ACK + BYE), REFER, and bad input (each status, nothing else done).
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import type { Config } from "../src/config/config.ts";
import { createResponse, type SipMessage, SipRequest } from "../src/sip/message.ts";
import { ControlServer, sdpOf } from "./support/control_server.ts";
import { freePorts } from "./support/ports.ts";
import { register, registerContact, TestSipClient } from "./support/sip_client.ts";
import {
  describeSipp,
  sippListening,
  sippReply,
  type SippResult,
  startSipp,
} from "./support/sipp.ts";
import { type CallsRig, startCallsRig } from "./support/calls_rig.ts";

const DOMAIN = "calls.test";
const KEY = "call-key";
const BOB = { user: "bob", domain: DOMAIN, password: "secret-b" };
const CAROL = { user: "carol", domain: DOMAIN, password: "secret-c" };
const SCENARIOS = new URL("./support/scenarios/", import.meta.url).pathname;

interface Rig extends CallsRig {
  /** Registers bob with a Contact at `port` (UDP). */
  registerBob: (port: number) => Promise<void>;
}

async function withRig(fn: (rig: Rig) => Promise<void>, tweak?: (c: Config) => void) {
  await using rig = await startCallsRig({
    transports: ["udp"],
    accounts: [BOB, CAROL],
    key: KEY,
    configure: (c) => {
      c.callbacks = { ...c.callbacks, retries: 3, backoffMs: 50, timeoutMs: 2000 };
      tweak?.(c);
    },
  });
  await rig.ts.server.store.putDomain({ domain: DOMAIN, control: rig.control.url });
  const registerBob = (port: number) =>
    registerContact(rig.ts.port("udp"), BOB, `sip:bob@127.0.0.1:${port}`);
  await fn({ ...rig, registerBob });
}

/** Starts a sipp UAS as bob from a scenario, with text rewrites. */
async function uas(rig: Rig, file: string, rewrite: (xml: string) => string = (x) => x) {
  const port = freePorts(1)[0];
  const xml = rewrite(await Deno.readTextFile(`${SCENARIOS}${file}`));
  const run = await startSipp({
    scenarioXml: xml,
    args: ["-p", String(port), "-t", "u1", "-d", "300"],
    calls: 1,
    timeoutMs: 15000,
  });
  await sippListening(run, port, "udp");
  await rig.registerBob(port);
  return run;
}

function assertPassed(r: SippResult): void {
  assert.equal(r.code, 0, `sipp UAS failed:\n${describeSipp(r)}`);
  assert.equal(r.stats?.successfulCalls, 1, describeSipp(r));
}

const names = (rig: Rig, callid: string) => rig.control.eventsOf(callid).map((e) => e.event);

async function originate(rig: Rig, body: Record<string, unknown>, legs = 1) {
  const res = await rig.api("POST", "/dialog/invite", { domain: DOMAIN, to: "bob", ...body });
  const json = await res.json();
  assert.equal(res.status, 201, JSON.stringify(json));
  assert.equal(typeof json.callid, "string");
  assert.equal(json.legs.length, legs, "one INVITE per binding");
  return json.callid as string;
}

Deno.test("originate with an offer: ACK at once, events in order, DELETE sends BYE", async () => {
  await withRig(async (rig) => {
    const sipp = await uas(rig, "uas_answer_sdp.xml", (x) =>
      // The ACK for an early offer carries no body.
      x.replace(
        "<!--INVITE_CHECK-->",
        `<action>
          <ereg regexp="^ *20$" search_in="hdr" header="Max-Forwards:" check_it="true" assign_to="mf"/>
          <ereg regexp="Front Desk.*sip:1000@calls.test" search_in="hdr" header="From:" check_it="true" assign_to="from"/>
          <ereg regexp="o=caller" search_in="body" check_it="true" assign_to="offer"/>
        </action>`,
      ).replace(
        "<!--ACK_CHECK-->",
        `<action><ereg regexp="^ *0$" search_in="hdr" header="Content-Length:" check_it="true" assign_to="empty"/></action>`,
      ).replace("<pause/>", `<pause/><Reference variables="empty,mf,from,offer"/>`));
    const callid = await originate(rig, {
      from: "1000",
      callerid: { number: "1000", name: "Front Desk" },
      sdp: sdpOf("caller"),
      maxforwards: 20,
    });
    const answered = await rig.control.waitEvent(callid, "answered");
    assert.match(answered.sdp ?? "", /o=bob/);
    assert.equal(answered.code, 200);
    // The call is listed with its leg while up.
    const list = await (await rig.api("GET", "/dialog")).json();
    const view = list.dialogs.find((d: { callId: string }) => d.callId === callid);
    assert.equal(view.kind, "originated");
    assert.equal(view.state, "confirmed");
    assert.equal(view.legs[0].state, "answered");
    assert.ok(view.durations.setupMs >= 0);
    const del = await rig.api("DELETE", `/dialog/${encodeURIComponent(callid)}`);
    assert.equal(del.status, 200);
    assertPassed(await sipp.result());
    await rig.control.waitEvent(callid, "ended");
    assert.deepEqual(names(rig, callid), ["trying", "ringing", "answered", "ended"]);
    const at = rig.control.eventsOf(callid).map((e) => e.at);
    assert.deepEqual(at, [...at].sort((a, b) => a - b));
  });
});

Deno.test("late offer (RFC 3725 flow I): the 200's offer is reported, the ACK carries the posted answer", async () => {
  await withRig(async (rig) => {
    const sipp = await uas(rig, "uas_answer_sdp.xml", (x) =>
      x.replace(
        "<!--INVITE_CHECK-->",
        // RFC 3323/3325: an anonymous From, the identity in P-Asserted-Identity; no offer.
        `<action>
          <ereg regexp="Anonymous.*sip:anonymous@anonymous.invalid" search_in="hdr" header="From:" check_it="true" assign_to="anon"/>
          <ereg regexp="id" search_in="hdr" header="Privacy:" check_it="true" assign_to="privacy"/>
          <ereg regexp="sip:1000@calls.test" search_in="hdr" header="P-Asserted-Identity:" check_it="true" assign_to="pai"/>
          <ereg regexp="^ *0$" search_in="hdr" header="Content-Length:" check_it="true" assign_to="nooffer"/>
        </action>`,
      ).replace(
        "<!--ACK_CHECK-->",
        `<action><ereg regexp="o=control-answer" search_in="body" check_it="true" assign_to="answer"/></action>`,
      ).replace("<pause/>", `<pause/><Reference variables="answer,anon,privacy,pai,nooffer"/>`));
    const callid = await originate(rig, { from: "1000", callerid: { private: true } });
    const answered = await rig.control.waitEvent(callid, "answered");
    assert.match(answered.sdp ?? "", /o=bob/, "the callee's offer goes to the control server");
    const ack = await rig.api("POST", `/dialog/${encodeURIComponent(callid)}/ack`, {
      sdp: sdpOf("control-answer"),
    });
    assert.equal(ack.status, 200, await ack.text());
    // A second answer is refused: the ACK is gone.
    const again = await rig.api("POST", `/dialog/${encodeURIComponent(callid)}/ack`, {
      sdp: sdpOf("control-answer"),
    });
    assert.equal(again.status, 409);
    await again.body?.cancel();
    assert.equal((await rig.api("DELETE", `/dialog/${encodeURIComponent(callid)}`)).status, 200);
    assertPassed(await sipp.result());
    await rig.control.waitEvent(callid, "ended");
    assert.deepEqual(names(rig, callid), ["trying", "ringing", "answered", "ended"]);
  });
});

Deno.test("late offer with no answer posted: ACK then BYE after api.ack_timeout", async () => {
  await withRig(async (rig) => {
    const sipp = await uas(rig, "uas_answer_sdp.xml");
    const callid = await originate(rig, { from: "1000" });
    await rig.control.waitEvent(callid, "answered");
    assertPassed(await sipp.result()); // it got an ACK and a BYE without anyone asking
    const ended = await rig.control.waitEvent(callid, "ended");
    assert.match(ended.reason ?? "", /no answer/);
  }, (c) => c.api.ackTimeout = 1);
});

Deno.test("DELETE before the answer sends CANCEL; the ringing timeout cancels too", async () => {
  await withRig(async (rig) => {
    const sipp = await uas(rig, "uas_ring_cancel.xml");
    const callid = await originate(rig, { from: "1000", sdp: sdpOf("caller") });
    await rig.control.waitEvent(callid, "ringing");
    assert.equal((await rig.api("DELETE", `/dialog/${encodeURIComponent(callid)}`)).status, 200);
    assertPassed(await sipp.result());
    const failed = await rig.control.waitEvent(callid, "failed");
    assert.equal(failed.code, 487);
    assert.deepEqual(names(rig, callid), ["trying", "ringing", "failed"]);

    const timed = await uas(rig, "uas_ring_cancel.xml");
    // bob now has two bindings (the first sipp is gone): two legs, both cancelled.
    const second = await originate(rig, { from: "1000", sdp: sdpOf("caller"), timeout: 1 }, 2);
    assertPassed(await timed.result());
    const noAnswer = await rig.control.waitEvent(second, "failed");
    assert.equal(noAnswer.code, 408);
    assert.deepEqual(names(rig, second), ["trying", "ringing", "failed"]);
  });
});

Deno.test("a control server that fails gets every event again, still in order, signed", async () => {
  await withRig(async (rig) => {
    const secret = "domain-secret";
    await rig.ts.server.store.putDomain({ domain: DOMAIN, control: rig.control.url, secret });
    rig.control.failEvents = 2; // `trying` is refused twice, then retried with backoff
    const sipp = await uas(rig, "uas_answer_sdp.xml");
    const callid = await originate(rig, { from: "1000", sdp: sdpOf("caller") });
    await rig.control.waitEvent(callid, "answered");
    assert.equal((await rig.api("DELETE", `/dialog/${encodeURIComponent(callid)}`)).status, 200);
    assertPassed(await sipp.result());
    await rig.control.waitEvent(callid, "ended");
    assert.deepEqual(names(rig, callid), ["trying", "ringing", "answered", "ended"]);
    assert.ok(
      rig.ts.server.counters.total("callbacks_retries_total", { method: "POST" }) >= 2,
      JSON.stringify(rig.ts.server.counters.snapshot()),
    );
    // Each event carries the domain's HMAC-SHA256 over timestamp + method + path + body.
    for (const e of rig.control.eventsOf(callid)) {
      const { path, body, timestamp, signature } = e.wire;
      const mac = createHmac("sha256", secret).update(`${timestamp}POST${path}${body}`);
      assert.equal(signature, mac.digest("hex"), `${e.event} is signed`);
    }
  });
});

Deno.test("an array originates one call per entry: 201 {calls}; extra headers; its own control URL", async () => {
  await withRig(async (rig) => {
    const bob = await TestSipClient.connect("udp", rig.ts.port("udp"));
    const other = new ControlServer();
    try {
      const contact = `sip:bob@127.0.0.1:${bob.localPort}`;
      assert.equal((await register(bob, { ...BOB, expires: 600, contact })).status, 200);
      const res = await rig.api("POST", "/dialog/invite", [
        {
          domain: DOMAIN,
          to: "bob",
          from: "1000",
          headers: { Subject: "call back", "X-Campaign": "42" },
        },
        { domain: DOMAIN, to: "bob", from: "1001", control: other.url },
      ]);
      const json = await res.json();
      assert.equal(res.status, 201, JSON.stringify(json));
      assert.equal(json.calls.length, 2);
      const [first, second] = json.calls.map((c: { callid: string }) => c.callid);
      assert.notEqual(first, second);
      assert.equal(json.calls[1].control, other.url);
      assert.equal(rig.ts.server.calls.size, 2);
      const inviteOf = (callid: string) =>
        bob.wait((m) => m instanceof SipRequest && m.method === "INVITE" && m.callId === callid);
      const a = await inviteOf(first);
      assert.equal(a.get("subject"), "call back");
      assert.equal(a.get("x-campaign"), "42");
      assert.equal((await inviteOf(second)).get("subject"), undefined);
      // Each call's events go to its own control server.
      await rig.control.waitEvent(first, "trying");
      await other.waitEvent(second, "trying");
      assert.deepEqual(rig.control.eventsOf(second), []);
      assert.deepEqual(other.eventsOf(first), []);
      for (const callid of [first, second]) {
        const del = await rig.api("DELETE", `/dialog/${encodeURIComponent(callid)}`);
        assert.equal(del.status, 200);
        await del.body?.cancel();
      }
    } finally {
      bob.close();
      await other.close();
    }
  });
});

Deno.test("the callee hangs up: sipws answers its BYE and reports ended", async () => {
  await withRig(async (rig) => {
    const sipp = await uas(rig, "uas_answer_sdp.xml", (x) => {
      // Our From tag, for the To of bob's BYE.
      x = x.replace(
        "<!--INVITE_CHECK-->",
        `<action><ereg regexp="tag=([^;>]*)" search_in="hdr" header="From:" assign_to="fromtag,ftag"/></action>`,
      );
      const start = x.indexOf('<recv request="ACK" optional="true"/>');
      const end = x.indexOf("<pause/>");
      return x.slice(0, start) + `<pause milliseconds="200"/>
  <send retrans="500"><![CDATA[

      BYE sip:sipws@127.0.0.1 SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:bob@calls.test>;tag=[pid]SIPpTag01[call_number]
      To: <sip:1000@calls.test>;tag=[$ftag]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>
  <recv response="200"/>
  ` + x.slice(end).replace("<pause/>", `<pause/><Reference variables="fromtag"/>`);
    });
    const callid = await originate(rig, { from: "1000", sdp: sdpOf("caller") });
    assertPassed(await sipp.result());
    const ended = await rig.control.waitEvent(callid, "ended");
    assert.equal(ended.reason, "remote hangup");
    assert.deepEqual(names(rig, callid), ["trying", "ringing", "answered", "ended"]);
    assert.equal(rig.ts.server.calls.size, 0);
  });
});

/**
 * bob's NOTIFY of the transfer's progress (RFC 3515 §2.4.5): a sipfrag status line;
 * `meanwhile` goes between the NOTIFY and its 200.
 */
const notify = (cseq: number, status: string, state: string, meanwhile = "") =>
  `<send retrans="500"><![CDATA[

      NOTIFY sip:sipws@127.0.0.1 SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:bob@calls.test>;tag=[pid]SIPpTag01[call_number]
      To: <sip:1000@calls.test>;tag=[$ftag]
      Call-ID: [call_id]
      CSeq: ${cseq} NOTIFY
      Max-Forwards: 70
      Contact: <sip:bob@[local_ip]:[local_port]>
      Event: refer
      Subscription-State: ${state}
      Content-Type: message/sipfrag;version=2.0
      Content-Length: [len]

      SIP/2.0 ${status}
  ]]></send>${meanwhile}
  <recv response="200"/>`;

/**
 * sipws sends the REFER again until it reads the 202 (Timer E): a copy that comes after the
 * first NOTIFY, sipp (two messages sent since the REFER) would take as unexpected.
 */
const REFER_AGAIN = `\n  <recv request="REFER" optional="true"/>`;

Deno.test("REFER transfers an answered call (RFC 3515); its NOTIFYs come as transfer events", async () => {
  await withRig(async (rig) => {
    const sipp = await uas(rig, "uas_answer_sdp.xml", (x) =>
      x.replace(
        "<!--INVITE_CHECK-->",
        `<action><ereg regexp="tag=([^;>]*)" search_in="hdr" header="From:" assign_to="fromtag,ftag"/></action>`,
      ).replace(
        "<!--AFTER_ACK-->",
        `<recv request="REFER">
    <action>
      <ereg regexp="sip:carol@calls.test" search_in="hdr" header="Refer-To:" check_it="true" assign_to="referto"/>
      <ereg regexp="sip:1000@calls.test" search_in="hdr" header="Referred-By:" check_it="true" assign_to="by"/>
    </action>
  </recv>
  ${sippReply("202 Accepted")}
  ${notify(2, "100 Trying", "active;expires=60", REFER_AGAIN)}
  ${notify(3, "200 OK", "terminated;reason=noresource")}`,
      ).replace("<pause/>", `<pause/><Reference variables="referto,by,fromtag"/>`));
    const callid = await originate(rig, { from: "1000", sdp: sdpOf("caller") });
    await rig.control.waitEvent(callid, "answered");
    const refer = await rig.api("POST", `/dialog/${encodeURIComponent(callid)}/refer`, {
      to: "carol",
    });
    assert.equal(refer.status, 200);
    assert.deepEqual(await refer.json(), { callid, status: 202 });
    await rig.control.waitEvent(callid, "transfer");
    const deadline = Date.now() + 10_000;
    while (rig.control.eventsOf(callid).length < 5 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal((await rig.api("DELETE", `/dialog/${encodeURIComponent(callid)}`)).status, 200);
    assertPassed(await sipp.result());
    await rig.control.waitEvent(callid, "ended");
    const events = rig.control.eventsOf(callid).map(({ event, code, reason }) => ({
      event,
      code,
      reason,
    }));
    assert.deepEqual(events.slice(2, 5), [
      { event: "answered", code: 200, reason: "OK" },
      { event: "transfer", code: 100, reason: "Trying" },
      { event: "transfer", code: 200, reason: "OK" },
    ]);
    assert.equal(events[5].event, "ended");
    // The dialog list shows them too (without SDP).
    const listed = await (await rig.api("GET", "/dialog")).json();
    const view = listed.dialogs.find((d: { callId: string }) => d.callId === callid);
    assert.deepEqual(view.events.map((e: { event: string }) => e.event), names(rig, callid));
  });
});

Deno.test("bad input: each status, and nothing else happens (no call, no SIP, no event)", async () => {
  await withRig(async (rig) => {
    // bob's only binding is this client: every request sipws sends to bob is seen here.
    const bob = await TestSipClient.connect("udp", rig.ts.port("udp"));
    try {
      const contact = `sip:bob@127.0.0.1:${bob.localPort}`;
      assert.equal((await register(bob, { ...BOB, expires: 600, contact })).status, 200);
      const sent = (match: (m: SipMessage) => boolean = () => true, ms = 300) =>
        bob.wait(match, ms).then((m) => m, () => undefined);
      const dialogs = async () => (await (await rig.api("GET", "/dialog")).json()).count;
      const post = async (body: unknown, key?: string) => {
        const res = await rig.api("POST", "/dialog/invite", body, key);
        return { status: res.status, json: await res.json() };
      };
      const cases: [unknown, number, string | undefined][] = [
        ["{not json", 400, undefined],
        [[], 400, "(body)"],
        [{ domain: DOMAIN }, 400, "to"],
        [{ domain: DOMAIN, to: "bob", maxforwards: 0 }, 400, "maxforwards"],
        [{ domain: DOMAIN, to: "bob", timeout: 0 }, 400, "timeout"],
        [{ domain: DOMAIN, to: "bob", headers: { Via: "x" } }, 400, "headers.Via"],
        [
          { domain: DOMAIN, to: "bob", headers: { Subject: "a\r\nVia: x" } },
          400,
          "headers.Subject",
        ],
        [{ domain: DOMAIN, to: "bob", sdp: "hello" }, 400, "sdp"],
        [{ domain: DOMAIN, to: "bob", callerid: { private: "yes" } }, 400, "callerid.private"],
        [{ domain: DOMAIN, to: "bob", control: "ftp://x" }, 400, "control"],
        [{ domain: DOMAIN, to: "bob", color: "red" }, 400, "color"],
        [[{ domain: DOMAIN, to: "bob" }, { domain: DOMAIN }], 400, "[1].to"],
        [{ domain: "nowhere.test", to: "bob" }, 404, "domain"],
        [{ domain: DOMAIN, to: "nobody" }, 404, "to"],
        // All or nothing: bob could be called, but the second entry cannot.
        [[{ domain: DOMAIN, to: "bob" }, { domain: DOMAIN, to: "nobody" }], 404, "[1].to"],
        // api.max_calls = 1: two calls do not fit, so neither is placed.
        [[{ domain: DOMAIN, to: "bob" }, { domain: DOMAIN, to: "bob" }], 503, undefined],
      ];
      for (const [body, expected, field] of cases) {
        const r = await post(body);
        assert.equal(r.status, expected, `${JSON.stringify(body)} → ${JSON.stringify(r.json)}`);
        assert.equal(r.json.error?.field, field, JSON.stringify(r.json));
        assert.equal(typeof r.json.error?.message, "string");
      }
      assert.equal((await post({ domain: DOMAIN, to: "bob" }, "")).status, 401);
      assert.equal((await post({ domain: DOMAIN, to: "bob" }, "wrong")).status, 403);
      assert.equal(await sent(), undefined, "no SIP went to bob");
      assert.equal(await dialogs(), 0);
      assert.equal(rig.control.events.length, 0);

      // carol exists but is not registered: 409 and a failed 480 event, nothing else.
      const unregistered = await post({ domain: DOMAIN, to: "carol" });
      assert.equal(unregistered.status, 409, JSON.stringify(unregistered.json));
      assert.equal((await rig.control.waitEvent(unregistered.json.callid, "failed")).code, 480);
      assert.equal(rig.ts.server.calls.size, 0);

      // One call up (bob rings); a second gets 503 and sends nothing.
      const first = await post({ domain: DOMAIN, to: "bob", sdp: sdpOf("caller") });
      assert.equal(first.status, 201);
      const callid = first.json.callid as string;
      const invite = await sent((m) => m instanceof SipRequest && m.method === "INVITE", 3000);
      assert.ok(invite instanceof SipRequest && invite.callId === callid);
      await bob.send(createResponse(invite, 180, undefined, "bobtag").toBytes());
      await rig.control.waitEvent(callid, "ringing");
      assert.equal((await post({ domain: DOMAIN, to: "bob" })).status, 503);

      // Actions that do not fit this call, or bad bodies: their status, and no change.
      const id = encodeURIComponent(callid);
      const actions: [string, string, unknown, number, string | undefined][] = [
        ["POST", `/dialog/${id}/ack`, { sdp: "x" }, 400, "sdp"],
        ["POST", `/dialog/${id}/ack`, { sdp: sdpOf("a"), more: 1 }, 400, "more"],
        ["POST", `/dialog/${id}/ack`, { sdp: sdpOf("a") }, 409, undefined],
        ["POST", `/dialog/${id}/refer`, { to: "carol smith" }, 400, "to"],
        ["POST", `/dialog/${id}/refer`, { to: "carol" }, 409, undefined],
        ["POST", `/dialog/${id}/answer`, { sdp: sdpOf("a") }, 409, undefined],
        ["POST", `/dialog/${id}/reject`, { code: 200 }, 400, "code"],
        ["POST", `/dialog/${id}/reject`, { code: 486 }, 409, undefined],
        ["POST", "/dialog/ring", { callid }, 409, undefined],
        ["POST", "/dialog/ring", { alertinfo: "x" }, 400, "callid"],
        ["POST", "/dialog/ring", { callid, alertinfo: "a\r\nb" }, 400, "alertinfo"],
        ["POST", "/dialog/ring", { callid: "nope" }, 404, "callid"],
        ["POST", "/dialog/nope/answer", { sdp: sdpOf("a") }, 404, "callid"],
        ["DELETE", "/dialog/nope", undefined, 404, "callid"],
      ];
      for (const [method, path, body, expected, field] of actions) {
        const res = await rig.api(method, path, body);
        const json = await res.json();
        assert.equal(res.status, expected, `${method} ${path} ${JSON.stringify(body)}`);
        assert.equal(json.error?.field, field, `${method} ${path}: ${JSON.stringify(json)}`);
      }
      // Every call endpoint takes the API key.
      for (const path of ["/dialog/invite", "/dialog/ring", `/dialog/${id}/ack`]) {
        for (const [key, status] of [["", 401], ["wrong", 403]] as const) {
          const res = await rig.api("POST", path, {}, key);
          assert.equal(res.status, status, `POST ${path} with key "${key}"`);
          await res.body?.cancel();
        }
      }
      for (const path of [`/dialog/${id}/answer`, `/dialog/${id}/reject`, `/dialog/${id}/refer`]) {
        const res = await rig.api("POST", path, {}, "");
        assert.equal(res.status, 401, `POST ${path}`);
        await res.body?.cancel();
      }
      for (const method of ["DELETE", "GET"]) {
        const res = await rig.api(
          method,
          method === "GET" ? "/dialog" : `/dialog/${id}`,
          undefined,
          "",
        );
        assert.equal(res.status, 401, `${method} without a key`);
        await res.body?.cancel();
      }
      const other = await sent((m) => !(m instanceof SipRequest && m.method === "INVITE"));
      assert.equal(other, undefined, `nothing but the INVITE went to bob: ${other?.toString()}`);
      assert.deepEqual(names(rig, callid), ["trying", "ringing"]);
      assert.equal(rig.ts.server.calls.size, 1);
      assert.equal(await dialogs(), 1);

      // The call is still whole: DELETE cancels it.
      assert.equal((await rig.api("DELETE", `/dialog/${id}`)).status, 200);
      const cancel = await sent((m) => m instanceof SipRequest && m.method === "CANCEL", 3000);
      assert.ok(cancel instanceof SipRequest && cancel.callId === callid);
    } finally {
      bob.close();
    }
  }, (c) => c.api.maxCalls = 1);
});
