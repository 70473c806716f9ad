/**
 * @module Interop proof with a real browser: JsSIP (npm `jssip`) in headless Chromium
 * registers with digest auth over WS and over WSS (self-signed certificate made by the
 * test; Chromium ignores certificate errors) against an in-process sipws. Checks the
 * `registered` event, the binding the server keeps (flow transport, `.invalid` contact,
 * RFC 5626 instance), `ua.unregister()` removing it, and a closed page's WebSocket
 * removing a binding at once. Chromium runs in its own network namespace and reaches only
 * the server's ports passed as `relayPorts`.
 *
 * Fact found here: JsSIP 3.13 keeps only the LAST `WWW-Authenticate` of a response (its
 * parser calls setHeader, which replaces), and aborts unless that one is MD5; SIP.js reads
 * the first. The default challenge set must therefore end with MD5 as well as start with it.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { startTestServer } from "./support/test_server.ts";
import { capturePageLog, launchBrowser } from "./support/browser.ts";
import { installJsSip, startUa, stopUa, unregisterUa, until } from "./support/jssip_page.ts";

const ALICE = { user: "alice", domain: "example.test", password: "browser-secret" };
const AOR = `${ALICE.user}@${ALICE.domain}`;

/** Starts a registering JsSIP UA for alice in the page; resolves with its outcome. */
const register = (page: Page, url: string, password: string): Promise<string> =>
  startUa(page, { wsUrl: url, uri: `sip:${AOR}`, password });

for (const transport of ["ws", "wss"] as const) {
  Deno.test({
    name: `browser: JsSIP registers over ${transport}, unregisters, page close drops binding`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      // The server's default challenge set: JsSIP must cope with it as shipped.
      await using ts = await startTestServer({ transports: [transport], accounts: [ALICE] });
      const port = ts.port(transport);
      const url = `${transport}://127.0.0.1:${port}`;
      const browser = await launchBrowser({ relayPorts: [port] });
      try {
        // 1. Register, then unregister through the UA.
        const page = await browser.newPage();
        const log = capturePageLog(page);
        await installJsSip(page);
        const outcome = await register(page, url, ALICE.password);
        assert.equal(outcome, "registered", log.join("\n"));
        const bindings = ts.server.location.lookup(AOR);
        assert.equal(bindings.length, 1);
        const [b] = bindings;
        assert.equal(b.flow.transport, transport);
        assert.match(b.contact, /^sip:[^@]+@[a-z0-9]+\.invalid;transport=ws$/i);
        assert.ok(b.instance, "JsSIP sends +sip.instance");
        assert.equal(b.regId, 1);

        const unregistered = await unregisterUa(page);
        assert.equal(unregistered, "unregistered", log.join("\n"));
        assert.equal(ts.server.location.size, 0, "unregister removes the binding");
        await stopUa(page);
        await page.close();

        // 2. Register again and close the page: the WebSocket goes, and the binding with it.
        const second = await browser.newPage();
        const log2 = capturePageLog(second);
        await installJsSip(second);
        assert.equal(await register(second, url, ALICE.password), "registered", log2.join("\n"));
        assert.equal(ts.server.location.lookup(AOR).length, 1);
        await second.close();
        await until(
          "closing the page's WebSocket to remove the binding at once",
          () => ts.server.location.size === 0 || undefined,
          5000,
        );

        // 3. A wrong password never reaches `registered`.
        const third = await browser.newPage();
        await installJsSip(third);
        const denied = await register(third, url, "wrong-password");
        assert.match(denied, /^registrationFailed/);
        assert.equal(ts.server.location.size, 0);
        await third.close();
      } finally {
        await browser.close();
      }
    },
  });
}
