/**
 * Two JsSIP browsers on two sipws nodes of one cluster (in-process servers on 127.0.0.2
 * and 127.0.0.3 sharing a real `redis-server`; Chromium in its loopback-only namespace,
 * each node's WebSocket port relayed to that node's address): alice registers with node
 * 1, bob with node 2 (the accounts were added through node 1 only); alice calls bob, the
 * INVITE goes node 1 → node 2 (bob's connection is there) with both nodes record-routing,
 * ICE connects on 127.0.0.1, RTP flows both ways, and alice's BYE ends the call on both
 * sides through both nodes; a MESSAGE goes from bob back to alice. Then alice calls a
 * sipp UDP phone registered through node 2, and sipp calls her through node 2.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { type BrowserHandle, capturePageLog, launchBrowser } from "./support/browser.ts";
import {
  answer,
  call,
  headerValues,
  installJsSip,
  messages,
  sendMessage,
  sessions,
  sipTrace,
  startUa,
  stopUa,
  terminate,
  until,
  waitForRtp,
  waitSessionEvent,
} from "./support/jssip_page.ts";
import { TestRedis } from "./support/redis.ts";
import { freePort } from "./support/ports.ts";
import { register, TestSipClient } from "./support/sip_client.ts";
import { callerArgs, describeSipp, startSipp } from "./support/sipp.ts";
import { startWebRtcPhone, uacScenario } from "./support/sipp_webrtc.ts";
import { rfcTimers, startTestServer, type TestServer } from "./support/test_server.ts";

const DOMAIN = "example.test";
const ALICE = { user: "alice", domain: DOMAIN, password: "alice-secret" };
const BOB = { user: "bob", domain: DOMAIN, password: "bob-secret" };
const CAROL = { user: "carol", domain: DOMAIN, password: "carol-secret" };
const CAROL_AOR = `carol@${DOMAIN}`;

function node(n: number, redisUrl: string, accounts: typeof ALICE[]): Promise<TestServer> {
  return startTestServer({
    transports: ["udp", "ws"],
    accounts,
    configure: (c) => {
      rfcTimers(c);
      c.interface = `127.0.0.${n + 1}`;
      c.cluster.redis = redisUrl;
      c.cluster.nodeId = `n${n}`;
    },
  });
}

Deno.test({
  name:
    "cluster browsers: JsSIP on node 1 calls JsSIP on node 2, RTP both ways, BYE; MESSAGE back; JsSIP and a sipp UDP phone on node 2 call each other",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using redis = await TestRedis.start();
    await using n1 = await node(1, redis.url, [ALICE, BOB, CAROL]);
    await using n2 = await node(2, redis.url, []);
    await until("node 2 has the accounts", () => n2.server.store.getAccount(DOMAIN, "bob"), 2000);
    const [ws1, ws2] = [n1.port("ws"), n2.port("ws")];
    let browser: BrowserHandle | undefined;
    const pages: { name: string; page: Page; log: string[] }[] = [];
    const trace = () =>
      pages.map((p) => `===== ${p.name} =====\n${p.log.slice(-80).join("\n")}`).join("\n");
    try {
      browser = await launchBrowser({
        relayPorts: [ws1, ws2],
        relayHosts: { [ws1]: "127.0.0.2", [ws2]: "127.0.0.3" },
      });
      const agent = async (name: string, who: typeof ALICE, port: number) => {
        const page = await browser!.newPage();
        const entry = { name, page, log: capturePageLog(page) };
        pages.push(entry);
        await installJsSip(page);
        const outcome = await startUa(page, {
          wsUrl: `ws://127.0.0.1:${port}`,
          uri: `sip:${who.user}@${DOMAIN}`,
          password: who.password,
        });
        assert.equal(outcome, "registered", `${name}\n${trace()}`);
        return entry;
      };
      const alice = await agent("alice@n1", ALICE, ws1);
      const bob = await agent("bob@n2", BOB, ws2);
      await until("node 1 sees bob's binding on node 2", () => {
        const b = n1.server.registrations.lookup(`bob@${DOMAIN}`)[0];
        return b?.flow.owner?.node === "n2" ? b : undefined;
      }, 2000);

      const out = await call(alice.page, `sip:bob@${DOMAIN}`);
      await until("bob rings", async () => (await sessions(bob.page))[0], 10_000, trace);
      await answer(bob.page, 0);
      for (const [p, id] of [[alice, out], [bob, 0]] as const) {
        const ev = await waitSessionEvent(
          p.page,
          id,
          ["confirmed", "failed", "ended"],
          10_000,
          trace,
        );
        assert.equal(ev.name, "confirmed", `${p.name}: ${JSON.stringify(ev)}\n${trace()}`);
      }
      // Both nodes set the dialog up, so both stay in its route.
      const ok = sipTrace(alice.log).find((m) =>
        m.direction === "received" && m.startLine.startsWith("SIP/2.0 200") &&
        /\nCSeq: \d+ INVITE\n/.test(m.text)
      );
      assert.ok(ok, trace());
      const rr = headerValues(ok, "Record-Route").join(" ");
      assert.match(rr, /127\.0\.0\.2/, rr);
      assert.match(rr, /127\.0\.0\.3/, rr);

      for (const [p, id] of [[alice, out], [bob, 0]] as const) {
        const s = await waitForRtp(p.page, id, p.name, trace);
        assert.equal(s.connectionState, "connected", `${p.name}: ${JSON.stringify(s)}`);
        assert.equal(s.localAddress, "127.0.0.1");
        assert.equal(s.remoteAddress, "127.0.0.1");
        assert.ok(s.packetsReceived > 0 && s.packetsSent > 0, `${p.name}: ${JSON.stringify(s)}`);
      }

      await terminate(alice.page, out);
      for (const [p, id, by] of [[alice, out, "local"], [bob, 0, "remote"]] as const) {
        const end = await waitSessionEvent(p.page, id, ["ended", "failed"], 10_000, trace);
        assert.deepEqual([end.name, end.originator], ["ended", by], trace());
      }

      const body = `hello from bob ${crypto.randomUUID()}`;
      assert.match(await sendMessage(bob.page, `sip:alice@${DOMAIN}`, body), /^succeeded 2\d\d$/);
      const got = await until(
        "MESSAGE at alice",
        async () => {
          const m = await messages(alice.page);
          return m.length > 0 ? m : undefined;
        },
        5000,
        trace,
      );
      assert.equal(got[0].body, body);

      // A sipp UDP phone registered through node 2 (carol) and the browser on node 1 call
      // each other: signalling relayed between the nodes (sipp answers with an SDP Chromium
      // accepts; no media is sent).
      const sippPort = freePort("udp");
      const phone = await TestSipClient.connect("udp", n2.port("udp"), "127.0.0.3");
      try {
        const contact = `sip:carol@127.0.0.1:${sippPort}`;
        assert.equal((await register(phone, { ...CAROL, expires: 600, contact })).status, 200);
        await until("node 1 sees carol", () => n1.server.registrations.lookup(CAROL_AOR)[0], 2000);
        await using uas = await startWebRtcPhone(sippPort);
        const toPhone = await call(alice.page, `sip:${CAROL_AOR}`);
        const up = await waitSessionEvent(alice.page, toPhone, ["confirmed", "failed"], 10_000);
        assert.equal(up.name, "confirmed", `${JSON.stringify(up)}\n${trace()}`);
        await terminate(alice.page, toPhone);
        const result = await uas.result();
        assert.equal(result.stats?.successfulCalls, 1, `${describeSipp(result)}\n${trace()}`);
      } finally {
        phone.close();
      }
      // The reverse: sipp as carol sends its INVITE to node 2; alice's connection is on node 1.
      await using uac = await startSipp({
        scenarioXml: uacScenario(`sip:alice@${DOMAIN}`, DOMAIN),
        args: callerArgs({
          server: `127.0.0.3:${n2.port("udp")}`,
          port: freePort("udp"),
          account: CAROL,
        }),
        calls: 1,
        timeoutMs: 30_000,
      });
      const ringing = await until(
        "alice rings",
        async () => (await sessions(alice.page))[2],
        10_000,
        trace,
      );
      assert.equal(ringing.direction, "incoming");
      await answer(alice.page, 2);
      const ended = await waitSessionEvent(alice.page, 2, ["ended", "failed"], 15_000, trace);
      assert.deepEqual([ended.name, ended.originator], ["ended", "remote"], trace());
      const result = await uac.result();
      assert.equal(result.stats?.successfulCalls, 1, `${describeSipp(result)}\n${trace()}`);
    } finally {
      await Promise.all(pages.map((p) => stopUa(p.page)));
      await browser?.close();
    }
  },
});
