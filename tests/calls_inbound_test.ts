/**
 * Proof of inbound call control with sipp as the caller: the domain's
 * directory entry has a control URL and `calls: true`, so alice's authenticated INVITE is
 * offered to a `Deno.serve` control server as `POST /invite`, whose answer decides: proxy
 * (to bob, a sipp UAS), proxy retargeted to carol, reject 486, hold → ring (180 with
 * Alert-Info) → answer (sipws is the UAS: ACK, BYE) with events in order, hold → reject,
 * and a control server that is down or silent (the call is proxied as usual).
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import type { Config } from "../src/config/config.ts";
import { type ControlServer, sdpOf } from "./support/control_server.ts";
import { freePort, freePorts } from "./support/ports.ts";
import { registerContact } from "./support/sip_client.ts";
import {
  callerArgs,
  describeSipp,
  sippListening,
  type SippResult,
  startSipp,
} from "./support/sipp.ts";
import { type CallsRig, startCallsRig } from "./support/calls_rig.ts";
import { ALICE, BOB, CAROL, DOMAIN } from "./support/accounts.ts";

const KEY = "call-key";
const SCENARIOS = new URL("./support/scenarios/", import.meta.url).pathname;

type Rig = CallsRig;

async function withRig(
  fn: (rig: Rig) => Promise<void>,
  options: {
    controlUrl?: (control: ControlServer) => string;
    tweak?: (c: Config) => void;
    /** How the domain entry is set: the mediaswitch directory, a SIPWS put, or the store. */
    via?: "dir" | "sipws" | "store";
  } = {},
) {
  await using rig = await startCallsRig({
    transports: ["udp"],
    accounts: [ALICE, BOB, CAROL],
    key: KEY,
    configure: (c) => {
      c.callbacks = { ...c.callbacks, retries: 3, backoffMs: 50, timeoutMs: 2000 };
      options.tweak?.(c);
    },
  });
  const { ts, control, api } = rig;
  const url = options.controlUrl?.(control) ?? control.url;
  const via = options.via ?? "store";
  if (via === "store") {
    await ts.server.store.putDomain({ domain: DOMAIN, control: url, calls: true });
  } else {
    const res = via === "dir"
      ? await api("PUT", `/dir/${DOMAIN}`, { control: url, calls: true })
      : await api("POST", "/", {
        q: "put",
        key: KEY,
        domains: [{ domain: DOMAIN, control: url, calls: true }],
      });
    assert.ok(res.ok, await res.text());
    const entry = await (await api("GET", `/dir/${DOMAIN}`)).json();
    assert.equal(entry.calls, true);
    assert.equal(entry.users.length, 3, "the users stay");
  }
  await fn(rig);
}

/** Registers `user` with a Contact at a sipp UAS running `file`. */
async function callee(rig: Rig, user: typeof BOB, file: string) {
  const port = freePorts(1)[0];
  const run = await startSipp({
    scenarioFile: `${SCENARIOS}${file}`,
    args: ["-p", String(port), "-t", "u1", "-d", "300"],
    calls: 1,
    timeoutMs: 15000,
  });
  await sippListening(run, port, "udp");
  await registerContact(rig.ts.port("udp"), user, `sip:${user.user}@127.0.0.1:${port}`);
  return run;
}

/** uac_reject.xml expecting `code` from sipws itself (its own To tag, not a callee's). */
const finalFromSipws = (code: number) => (xml: string) =>
  xml.replace('<recv response="486">', `<recv response="${code}">`)
    .replace('regexp="SIPpTag01"', 'regexp="tag="');

/** alice calls bob with a scenario (text rewrites allowed), in the background. */
async function caller(rig: Rig, file: string, rewrite: (xml: string) => string = (x) => x) {
  const xml = rewrite(await Deno.readTextFile(`${SCENARIOS}${file}`));
  return await startSipp({
    scenarioXml: xml,
    args: callerArgs({
      server: `127.0.0.1:${rig.ts.port("udp")}`,
      port: freePorts(1)[0],
      transport: "u1",
      service: "bob",
      account: ALICE,
    }),
    calls: 1,
    timeoutMs: 15000,
  });
}

/** The call as `GET /dialog` lists it, with its durations. */
async function listed(rig: Rig, callid: string) {
  const list = await (await rig.api("GET", "/dialog")).json();
  const view = list.dialogs.find((d: { callId: string }) => d.callId === callid);
  assert.ok(view, `${callid} is not listed: ${JSON.stringify(list)}`);
  return view;
}

/** sipp's count of retransmissions of the message received just before its `pause` of `ms`. */
function retransmissionsBeforePause(r: SippResult, ms: number): number {
  const lines = r.stdout.split("\n");
  const at = lines.findLastIndex((l) => new RegExp(`Pause \\[\\s*${ms}ms\\]`).test(l));
  const row = /^\s*200 <-+\s+\d+\s+(\d+)/.exec(lines[at - 1] ?? "");
  assert.ok(row, `no 200 row before the ${ms} ms pause:\n${r.stdout.slice(-3000)}`);
  return Number(row[1]);
}

function assertPassed(r: SippResult, who: string): void {
  assert.equal(r.code, 0, `${who} failed:\n${describeSipp(r)}`);
  assert.equal(r.stats?.successfulCalls, 1, `${who}:\n${describeSipp(r)}`);
}

Deno.test("inbound: the control server is asked; proxy routes as usual", async () => {
  await withRig(async (rig) => {
    rig.control.decision = { action: "proxy" };
    const bob = await callee(rig, BOB, "uas_answer.xml");
    const alice = await caller(
      rig,
      "uac_call.xml",
      (x) => x.replace("CSeq: 2 INVITE", "CSeq: 2 INVITE\n      User-Agent: sipp-alice"),
    );
    assertPassed(await alice.result(), "caller");
    assertPassed(await bob.result(), "callee");
    const offer = await rig.control.waitInvite();
    // Proxied as usual: listed with both legs and how long it rang and talked.
    const view = await listed(rig, String(offer.callid));
    assert.equal(view.kind, "proxied");
    assert.equal(view.state, "terminated");
    assert.deepEqual([view.caller.transport, view.callee.transport], ["udp", "udp"]);
    assert.equal(view.from, `alice@${DOMAIN}`);
    assert.ok(view.durations.setupMs >= 0 && view.durations.talkMs > 0, JSON.stringify(view));
    assert.equal(offer.domain, DOMAIN);
    assert.equal(offer.from, "alice");
    assert.equal(offer.to, "bob");
    assert.match(String(offer.sdp), /o=alice/);
    assert.equal((offer.remote as { host: string }).host, "127.0.0.1");
    assert.deepEqual(offer.callerid, { number: "alice", name: "alice" });
    assert.equal(offer.agent, "sipp-alice");
    assert.equal(typeof offer.callid, "string");
    assert.equal(rig.control.invites.length, 1, "asked once, after authentication");
    // The decision request is signed like every callback ([callbacks] secret here).
    const { path, body, timestamp, signature } = rig.control.inviteWires[0];
    const mac = createHmac("sha256", "inbound-secret").update(`${timestamp}POST${path}${body}`);
    assert.equal(signature, mac.digest("hex"));
  }, { via: "dir", tweak: (c) => c.callbacks.secret = "inbound-secret" });
});

Deno.test("inbound: proxy with `to` retargets to another user", async () => {
  await withRig(async (rig) => {
    rig.control.decision = { action: "proxy", to: "carol" };
    const carol = await callee(rig, CAROL, "uas_answer.xml");
    const alice = await caller(rig, "uac_call.xml");
    assertPassed(await alice.result(), "caller");
    assertPassed(await carol.result(), "carol, the new target");
  }, { via: "sipws" });
});

Deno.test("inbound: reject answers the caller with the control server's status", async () => {
  await withRig(async (rig) => {
    rig.control.decision = { action: "reject", code: 486, reason: "Busy Here" };
    const alice = await caller(rig, "uac_reject.xml", finalFromSipws(486));
    assertPassed(await alice.result(), "caller (486)");
    assert.equal(rig.ts.server.calls.size, 0);
  });
});

/**
 * After the ACK, alice re-INVITEs: sipws (the UAS) answers with the SDP it answered first,
 * and sends that 2xx again until alice's ACK.
 */
const REINVITE = `<send retrans="500" start_txn="reinvite">
    <![CDATA[

      INVITE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: "alice" <sip:alice@example.test>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      [routes]
      Call-ID: [call_id]
      CSeq: 3 INVITE
      Contact: <sip:alice@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=alice 53655765 2353687638 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=sendonly

    ]]>
  </send>
  <recv response="100" optional="true" response_txn="reinvite"/>
  <!-- Matched by its Via branch: a 200 to the first INVITE sent again (sipws read the ACK
       after its T1) is that INVITE's, which sipp ACKs again, not this one's. -->
  <recv response="200" response_txn="reinvite">
    <action><ereg regexp="o=control-answer" search_in="body" check_it="true" assign_to="again"/></action>
  </recv>
  <!-- No ACK yet: over UDP the 2xx must come again (RFC 3261 §13.3.1.4). -->
  <pause milliseconds="1500"/>
  <send ack_txn="reinvite">
    <![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: "alice" <sip:alice@example.test>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      [routes]
      Call-ID: [call_id]
      CSeq: 3 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="300"/>`;

Deno.test("inbound: hold → ring (Alert-Info) → answer; sipws is the UAS; events in order", async () => {
  await withRig(async (rig) => {
    rig.control.decision = { action: "hold" };
    const alice = await caller(rig, "uac_call.xml", (x) =>
      x.replace(
        '<recv response="180"/>',
        `<recv response="180"><action><ereg regexp="http://ring.test/tone.wav" search_in="hdr" header="Alert-Info:" check_it="true" assign_to="alert"/></action></recv>`,
      ).replace(
        `<ereg regexp="refresher=uac" search_in="hdr" header="Session-Expires:" check_it="true" assign_to="se"/>`,
        `<ereg regexp="o=control-answer" search_in="body" check_it="true" assign_to="se"/>`,
      ).replace(`<pause milliseconds="300"/>`, REINVITE)
        .replace("CSeq: 3 BYE", "CSeq: 4 BYE")
        .replace(`<Reference variables="se"/>`, `<Reference variables="se,alert,again"/>`));
    const offer = await rig.control.waitInvite();
    const callid = String(offer.callid);
    await rig.control.waitEvent(callid, "trying");
    const held = await listed(rig, callid);
    assert.equal(held.kind, "held");
    assert.deepEqual([held.state, held.callState], ["early", "held"]);
    assert.deepEqual(held.caller.transport, "udp");
    assert.equal(held.legs.length, 1);
    assert.deepEqual([held.legs[0].transport, held.legs[0].state], ["udp", "calling"]);
    assert.equal(held.durations.talkMs, 0);
    const ring = await rig.api("POST", "/dialog/ring", {
      callid,
      alertinfo: "<http://ring.test/tone.wav>",
    });
    assert.deepEqual(await ring.json(), { callid, ringing: true });
    const ringing = await listed(rig, callid);
    assert.deepEqual([ringing.callState, ringing.legs[0].state], ["ringing", "ringing"]);
    assert.deepEqual(ringing.events.map((e: { event: string }) => e.event), ["trying", "ringing"]);
    // Already ringing: no second 180 (mediaswitch directory API).
    const again = await rig.api("POST", "/dialog/ring", { callid });
    assert.equal((await again.json()).ringing, false);
    const answer = await rig.api("POST", `/dialog/${encodeURIComponent(callid)}/answer`, {
      sdp: sdpOf("control-answer"),
    });
    assert.equal(answer.status, 200, await answer.text());
    assert.equal((await listed(rig, callid)).state, "confirmed");
    const result = await alice.result();
    assertPassed(result, "caller");
    assert.ok(
      retransmissionsBeforePause(result, 1500) >= 1,
      `the re-INVITE's 2xx came again:\n${describeSipp(result)}`,
    );
    await rig.control.waitEvent(callid, "ended");
    assert.deepEqual(
      rig.control.eventsOf(callid).map((e) => e.event),
      ["trying", "ringing", "answered", "ended"],
    );
    assert.equal(rig.ts.server.calls.size, 0);
    const ended = await listed(rig, callid);
    assert.deepEqual([ended.state, ended.callState], ["terminated", "ended"]);
    assert.deepEqual(
      ended.events.map((e: { event: string }) => e.event),
      ["trying", "ringing", "answered", "ended"],
    );
    assert.ok(ended.durations.talkMs >= 500, `talked through the 2xx retransmission: ${ended}`);
  });
});

Deno.test("inbound: a held call the caller cancels ends with 487 and a failed event", async () => {
  await withRig(async (rig) => {
    rig.control.decision = { action: "hold" };
    const alice = await caller(
      rig,
      "uac_cancel.xml",
      (x) => x.replace('regexp="SIPpTag01"', 'regexp="tag="'),
    );
    const offer = await rig.control.waitInvite();
    const callid = String(offer.callid);
    await rig.control.waitEvent(callid, "trying");
    const ring = await rig.api("POST", "/dialog/ring", { callid });
    assert.equal((await ring.json()).ringing, true);
    assertPassed(await alice.result(), "caller (CANCEL → 200, 487)");
    const failed = await rig.control.waitEvent(callid, "failed");
    assert.equal(failed.code, 487);
    assert.deepEqual(rig.control.eventsOf(callid).map((e) => e.event), [
      "trying",
      "ringing",
      "failed",
    ]);
    // The call is gone: acting on it is a 404, and changes nothing.
    const late = await rig.api("POST", `/dialog/${encodeURIComponent(callid)}/answer`, {
      sdp: sdpOf("late"),
    });
    assert.equal(late.status, 404);
    await late.body?.cancel();
  });
});

Deno.test("inbound: DELETE of a held call before the answer refuses it (480)", async () => {
  await withRig(async (rig) => {
    rig.control.decision = { action: "hold" };
    const alice = await caller(rig, "uac_reject.xml", finalFromSipws(480));
    const offer = await rig.control.waitInvite();
    const callid = String(offer.callid);
    await rig.control.waitEvent(callid, "trying");
    // Bad input on a held call: no SDP, and an originate-only action.
    const noSdp = await rig.api("POST", `/dialog/${encodeURIComponent(callid)}/answer`, {});
    assert.equal((await noSdp.json()).error.field, "sdp");
    const notPlaced = await rig.api("POST", `/dialog/${encodeURIComponent(callid)}/ack`, {
      sdp: sdpOf("x"),
    });
    assert.equal(notPlaced.status, 409);
    await notPlaced.body?.cancel();
    assert.deepEqual(rig.control.eventsOf(callid).map((e) => e.event), ["trying"]);
    const del = await rig.api("DELETE", `/dialog/${encodeURIComponent(callid)}`);
    assert.equal(del.status, 200);
    await del.body?.cancel();
    assertPassed(await alice.result(), "caller (480)");
    assert.equal((await rig.control.waitEvent(callid, "failed")).code, 480);
  });
});

Deno.test("inbound: a held call nobody acts on ends at Timer C (408)", async () => {
  await withRig(async (rig) => {
    rig.control.decision = { action: "hold" };
    const alice = await caller(rig, "uac_reject.xml", finalFromSipws(408));
    const offer = await rig.control.waitInvite();
    assertPassed(await alice.result(), "caller (408)");
    const failed = await rig.control.waitEvent(String(offer.callid), "failed");
    assert.equal(failed.code, 408);
  }, { tweak: (c) => c.sip.timerC = 500 });
});

Deno.test("inbound: with api.max_calls calls held, the control server is still asked and a hold is proxied", async () => {
  await withRig(async (rig) => {
    rig.control.decision = { action: "hold" };
    const first = await caller(rig, "uac_reject.xml", finalFromSipws(480));
    const callid = String((await rig.control.waitInvite()).callid);
    await rig.control.waitEvent(callid, "trying");
    assert.equal(rig.ts.server.calls.size, 1, "the one slot is taken");
    const bob = await callee(rig, BOB, "uas_answer.xml");
    const second = await caller(rig, "uac_call.xml");
    assertPassed(await second.result(), "second caller (proxied to bob)");
    assertPassed(await bob.result(), "bob");
    const offer = await rig.control.waitInvite(2);
    const secondId = String(offer.callid);
    assert.notEqual(secondId, callid);
    assert.deepEqual(rig.control.eventsOf(secondId), [], "not held: no events");
    assert.equal((await listed(rig, secondId)).kind, "proxied");
    assert.equal(rig.ts.server.calls.size, 1);
    const del = await rig.api("DELETE", `/dialog/${encodeURIComponent(callid)}`);
    assert.equal(del.status, 200);
    await del.body?.cancel();
    assertPassed(await first.result(), "first caller (480)");
  }, { tweak: (c) => c.api.maxCalls = 1 });
});

Deno.test("inbound: hold → reject", async () => {
  await withRig(async (rig) => {
    rig.control.decision = { action: "hold" };
    const alice = await caller(rig, "uac_reject.xml", finalFromSipws(603));
    const offer = await rig.control.waitInvite();
    const callid = String(offer.callid);
    await rig.control.waitEvent(callid, "trying");
    const bad = await rig.api("POST", `/dialog/${encodeURIComponent(callid)}/reject`, {});
    assert.equal((await bad.json()).error.field, "code");
    const reject = await rig.api("POST", `/dialog/${encodeURIComponent(callid)}/reject`, {
      code: 603,
    });
    assert.equal(reject.status, 200);
    await reject.body?.cancel();
    assertPassed(await alice.result(), "caller (603)");
    const failed = await rig.control.waitEvent(callid, "failed");
    assert.equal(failed.code, 603);
    assert.deepEqual(rig.control.eventsOf(callid).map((e) => e.event), ["trying", "failed"]);
  });
});

Deno.test("inbound: a control server that is down is skipped: the call is proxied", async () => {
  const closed = freePort();
  await withRig(async (rig) => {
    const bob = await callee(rig, BOB, "uas_answer.xml");
    const alice = await caller(rig, "uac_call.xml");
    assertPassed(await alice.result(), "caller");
    assertPassed(await bob.result(), "callee");
  }, { controlUrl: () => `http://127.0.0.1:${closed}` });
});

Deno.test("inbound: a silent control server is waited for only api.decision_timeout_ms", async () => {
  await withRig(async (rig) => {
    rig.control.decision = "silent";
    const bob = await callee(rig, BOB, "uas_answer.xml");
    const alice = await caller(rig, "uac_call.xml");
    assertPassed(await alice.result(), "caller");
    assertPassed(await bob.result(), "callee");
    assert.equal(rig.control.invites.length, 1);
  }, { tweak: (c) => c.api.decisionTimeoutMs = 300 });
});
