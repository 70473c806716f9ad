/**
 * @module Click-to-call between two browsers driven only over HTTP (RFC 3725
 * flow I): a test control server (`Deno.serve`) originates to JsSIP alice in Chromium
 * without an offer, takes alice's offer from the `answered` event, originates to JsSIP bob
 * with that offer, and posts bob's answer as alice's ACK. ICE connects on 127.0.0.1, RTP
 * flows both ways (getStats), and hanging up both calls through the API ends both legs.
 * Browsers run in their own network namespace (tests/support/browser.ts).
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { type BrowserHandle, capturePageLog, launchBrowser } from "./support/browser.ts";
import { startCallsRig } from "./support/calls_rig.ts";
import { rfcTimers } from "./support/test_server.ts";
import {
  answer,
  installJsSip,
  startUa,
  stopUa,
  waitForRtp,
  waitSession,
  waitSessionEvent,
} from "./support/jssip_page.ts";

const DOMAIN = "example.test";
const KEY = "c2c-key";
const ALICE = { user: "alice", domain: DOMAIN, password: "alice-secret" };
const BOB = { user: "bob", domain: DOMAIN, password: "bob-secret" };

Deno.test({
  name:
    "click-to-call: late offer to alice, her offer to bob, bob's answer in alice's ACK; RTP both ways; API hang-up ends both",
  // Playwright keeps timers and pipes beyond one test's op accounting.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const rig = await startCallsRig({
      transports: ["ws"],
      accounts: [ALICE, BOB],
      key: KEY,
      configure: rfcTimers,
    });
    const { ts, control } = rig;
    await ts.server.store.putDomain({ domain: DOMAIN, control: control.url });
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await rig.api(method, path, body);
      const json = await res.json();
      assert.ok(res.ok, `${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    let browser: BrowserHandle | undefined;
    const pages: { name: string; page: Page; log: string[] }[] = [];
    const trace = () =>
      pages.map((p) => `===== ${p.name} =====\n${p.log.slice(-80).join("\n")}`).join("\n");
    try {
      browser = await launchBrowser({ relayPorts: [ts.port("ws")] });
      for (const account of [ALICE, BOB]) {
        const page = await browser.newPage();
        const log = capturePageLog(page);
        pages.push({ name: account.user, page, log });
        await installJsSip(page);
        const outcome = await startUa(page, {
          wsUrl: `ws://127.0.0.1:${ts.port("ws")}`,
          uri: `sip:${account.user}@${DOMAIN}`,
          password: account.password,
        });
        assert.equal(outcome, "registered", trace());
      }
      const [alice, bob] = pages;

      // 1. Call alice with no offer: her 200 carries the offer (RFC 3725 flow I).
      const a = await api("POST", "/dialog/invite", { domain: DOMAIN, to: "alice", from: "bob" });
      const atAlice = await waitSession(alice.page, 0);
      assert.equal(atAlice.direction, "incoming");
      await answer(alice.page, 0);
      const offer = (await control.waitEvent(a.callid, "answered").catch((e) => {
        throw new Error(`${e.message}\n${trace()}`);
      })).sdp;
      assert.match(offer ?? "", /^v=0/, "alice's offer came in the answered event");

      // 2. Call bob with alice's offer; bob answers; sipws ACKs bob at once.
      const b = await api("POST", "/dialog/invite", {
        domain: DOMAIN,
        to: "bob",
        from: "alice",
        sdp: offer,
      });
      await waitSession(bob.page, 0);
      await answer(bob.page, 0);
      const answerSdp = (await control.waitEvent(b.callid, "answered")).sdp;
      assert.match(answerSdp ?? "", /^v=0/, "bob's answer came in the answered event");
      const bobUp = await waitSessionEvent(
        bob.page,
        0,
        ["confirmed", "failed", "ended"],
        10_000,
        trace,
      );
      assert.equal(bobUp.name, "confirmed", trace());

      // 3. Bob's answer goes to alice in her ACK.
      await api("POST", `/dialog/${encodeURIComponent(a.callid)}/ack`, { sdp: answerSdp });
      const aliceUp = await waitSessionEvent(
        alice.page,
        0,
        ["confirmed", "failed", "ended"],
        10_000,
        trace,
      );
      assert.equal(aliceUp.name, "confirmed", trace());

      // 4. Media flows browser to browser on loopback, both ways.
      for (const p of [alice, bob]) {
        const s = await waitForRtp(p.page, 0, p.name, trace);
        assert.equal(s.connectionState, "connected", `${p.name}: ${JSON.stringify(s)}`);
        assert.equal(s.localAddress, "127.0.0.1", `${p.name}: ${JSON.stringify(s)}`);
        assert.equal(s.remoteAddress, "127.0.0.1", `${p.name}: ${JSON.stringify(s)}`);
        assert.ok(s.packetsReceived > 0 && s.packetsSent > 0, `${p.name}: ${JSON.stringify(s)}`);
      }
      const listed = await api("GET", "/dialog");
      for (const id of [a.callid, b.callid]) {
        const d = listed.dialogs.find((x: { callId: string }) => x.callId === id);
        assert.equal(d?.state, "confirmed", JSON.stringify(listed));
      }

      // 5. Hang-up through the API: a BYE to each leg ends both browsers' sessions.
      await api("DELETE", `/dialog/${encodeURIComponent(a.callid)}`);
      await api("DELETE", `/dialog/${encodeURIComponent(b.callid)}`);
      for (const p of [alice, bob]) {
        const end = await waitSessionEvent(p.page, 0, ["ended", "failed"], 10_000, trace);
        assert.deepEqual([end.name, end.originator], ["ended", "remote"], trace());
      }
      for (const id of [a.callid, b.callid]) {
        await control.waitEvent(id, "ended");
        // JsSIP rings (180) before it is answered.
        assert.deepEqual(
          control.eventsOf(id).map((e) => e.event),
          ["trying", "ringing", "answered", "ended"],
        );
      }
    } finally {
      await Promise.all(pages.map((p) => stopUa(p.page)));
      await browser?.close();
      await rig[Symbol.asyncDispose]();
    }
  },
});
