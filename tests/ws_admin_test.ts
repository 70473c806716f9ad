/**
 * @module WebSocket connection admin with a real browser: JsSIP in Chromium registers over
 * WS; `GET /ws` lists its connection (bound AOR, bytes and messages each way, queue) sorted
 * and paged beside a second client; `POST /ws/disable` makes JsSIP's reconnects fail with
 * 503 while `POST /ws/{id}/close {code, reason}` ends its connection (JsSIP sees the code and
 * reason); `POST /ws/enable` lets it reconnect and register again. Every close yields a
 * `ws.closed` event (who closed, code, reason, AORs) and a `POST {control}/ws/closed` to the
 * domain's control server.
 */
import assert from "node:assert/strict";
import type { WsClosed } from "../src/events.ts";
import { launchBrowser } from "./support/browser.ts";
import { installJsSip, startUa, stopUa, uaEvents, until } from "./support/jssip_page.ts";
import { TestSipClient } from "./support/sip_client.ts";
import { startTestServer } from "./support/test_server.ts";

const ALICE = { user: "alice", domain: "example.test", password: "browser-secret" };
const AOR = `${ALICE.user}@${ALICE.domain}`;

Deno.test({
  name: "browser: JsSIP sees /ws close (code, reason), disable (503) and enable",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const closedPosts: { body: WsClosed & { domain: string } }[] = [];
    const control = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (r) => {
      const body = await r.text();
      if (new URL(r.url).pathname === "/ws/closed") closedPosts.push({ body: JSON.parse(body) });
      return new Response(null, { status: 204 });
    });
    await using ts = await startTestServer({ transports: ["ws"], apiKey: "k" });
    const httpPort = ts.config.httpPort;
    await ts.server.store.putDomain(
      { domain: ALICE.domain, control: `http://127.0.0.1:${control.addr.port}` },
      [ALICE],
    );
    const closed: WsClosed[] = [];
    ts.server.events.on("ws.closed", (e) => closed.push(e.closed));
    const api = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(`http://127.0.0.1:${httpPort}${path}`, {
        method,
        headers: { authorization: "Bearer k" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: r.status, json: await r.json() };
    };
    const port = ts.port("ws");
    const browser = await launchBrowser({ relayPorts: [port] });
    const other = await TestSipClient.connect("ws", port);
    try {
      const page = await browser.newPage();
      await installJsSip(page);
      const outcome = await startUa(page, {
        wsUrl: `ws://127.0.0.1:${port}`,
        uri: `sip:${AOR}`,
        password: ALICE.password,
        recoverySeconds: 1,
      });
      assert.equal(outcome, "registered");

      // GET /ws: rows, sorting and paging.
      const listed = await api("GET", "/ws?order=id&dir=desc");
      assert.equal(listed.status, 200);
      assert.equal(listed.json.count, 2);
      assert.equal(listed.json.enabled, true);
      const [newest, oldest] = listed.json.connections;
      const counter = (id: string) => Number(/(\d+)$/.exec(id)![1]);
      assert.ok(counter(newest.id) > counter(oldest.id), "desc by id");
      const jssip = listed.json.connections.find((c: { aors: string[] }) => c.aors.length > 0);
      assert.deepEqual(jssip.aors, [AOR]);
      assert.ok(jssip.messages.in >= 2 && jssip.messages.out >= 2, JSON.stringify(jssip));
      assert.ok(jssip.bytes.in > 500 && jssip.bytes.out > 500, JSON.stringify(jssip));
      assert.equal(jssip.queued, 0);
      assert.equal(jssip.origin, new URL(browser.pageUrl).origin);
      const paged = await api("GET", "/ws?order=id&dir=asc&limit=1&offset=1");
      assert.equal(paged.json.count, 2);
      assert.deepEqual(paged.json.connections.map((c: { id: string }) => c.id), [newest.id]);
      const byUse = await api("GET", "/ws?order=last_used&dir=desc&limit=1");
      assert.equal(byUse.json.connections.length, 1);
      assert.equal((await api("GET", "/ws?order=size")).status, 400);
      assert.equal((await api("POST", `/ws/${jssip.id}/close`, { code: 1006 })).status, 400);

      // Disable, then close JsSIP's connection with a code and reason of our choosing.
      assert.deepEqual((await api("POST", "/ws/disable")).json, { enabled: false });
      const close = await api("POST", `/ws/${jssip.id}/close`, {
        code: 4000,
        reason: "maintenance",
      });
      assert.equal(close.status, 200);
      const seen = await until(
        "JsSIP disconnected",
        async () => (await uaEvents(page)).find((e) => e.name === "disconnected"),
      );
      assert.equal(seen.code, 4000);
      assert.equal(seen.reason, "maintenance");
      const event = await until("ws.closed", () => closed.find((c) => c.id === jssip.id));
      assert.deepEqual(event, {
        id: jssip.id,
        transport: "ws",
        remote: jssip.remote,
        code: 4000,
        reason: "maintenance",
        by: "admin",
        aors: [AOR],
      });
      const post = await until("POST /ws/closed", () => closedPosts[0]);
      assert.deepEqual(post.body, { ...event, domain: ALICE.domain });

      // While disabled JsSIP's reconnects are refused with 503; the other client stays.
      await until(
        "a refused reconnect",
        () =>
          ts.server.counters.total("ws_handshakes_refused_total", { reason: "disabled" }) > 0 ||
          undefined,
      );
      const whileOff = await api("GET", "/ws");
      assert.equal(whileOff.json.enabled, false);
      assert.deepEqual(whileOff.json.connections.map((c: { id: string }) => c.id), [oldest.id]);
      assert.equal(ts.server.location.lookup(AOR).length, 0, "its binding went with it");

      // Enable: JsSIP reconnects on its own and registers again.
      await api("POST", "/ws/enable");
      await until(
        "JsSIP registered again",
        async () =>
          (await uaEvents(page)).filter((e) => e.name === "registered").length >= 2 || undefined,
      );
      assert.equal(ts.server.location.lookup(AOR).length, 1);

      // A close by the client is reported as such.
      const again = (await api("GET", "/ws")).json.connections.find((c: { aors: string[] }) =>
        c.aors.length > 0
      );
      await stopUa(page);
      const byClient = await until("client close", () => closed.find((c) => c.id === again.id));
      assert.equal(byClient.by, "client");
      // JsSIP calls close() without a code: RFC 6455 §7.1.5 reports that as 1005.
      assert.equal(byClient.code, 1005);
    } finally {
      other.close();
      await browser.close();
      await control.shutdown();
    }
  },
});
