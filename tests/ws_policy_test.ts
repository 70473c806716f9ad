/**
 * @module The WebSocket handshake policy on a real WS listener, driven by raw upgrade
 * requests: Origin patterns, `check_host`, CORS modes, the admin switch (503), refusals
 * counted per reason in /metrics, and one warning at start when no Origin list is set.
 */
import assert from "node:assert/strict";
import { createApiApp } from "../src/api/app.ts";
import { configureLog, type LogRecord } from "../src/log.ts";
import { startTestServer } from "./support/test_server.ts";
import { handshake } from "./support/ws_handshake.ts";

const SIP = { "Sec-WebSocket-Protocol": "sip" };

Deno.test("origins (exact and *.), check_host, cors=origin, disable → 503, counted", async () => {
  await using ts = await startTestServer({
    transports: ["ws"],
    accounts: [{ user: "alice", domain: "example.test", password: "pw" }],
    configure: (c) => {
      c.keys = ["k"];
      c.websocket.allowedOrigins = ["https://app.example.com", "https://*.example.org"];
      c.websocket.checkHost = true;
      c.websocket.hostAliases = ["SIP.Example.net"];
      c.websocket.cors = "origin";
    },
  });
  const port = ts.port("ws");
  const status = async (headers: Record<string, string>) =>
    (await handshake(port, { ...SIP, ...headers })).split(" ")[1];

  const ok = await handshake(port, { ...SIP, Origin: "https://app.example.com" });
  assert.match(ok, /^HTTP\/1\.1 101/);
  assert.match(ok, /^access-control-allow-origin: https:\/\/app\.example\.com$/im);
  assert.equal(await status({ Origin: "https://a.b.example.org" }), "101");
  assert.equal(await status({ Origin: "https://example.org" }), "403");
  assert.equal(await status({ Origin: "https://evil.example.net" }), "403");
  assert.equal(await status({}), "403", "no Origin with a list set");
  // Host: a served domain passes, a stranger does not; our own address passed above.
  assert.equal(
    await status({ Origin: "https://app.example.com", Host: `example.test:${port}` }),
    "101",
  );
  assert.equal(await status({ Origin: "https://app.example.com", Host: "evil.test" }), "403");
  // An alias (any case) passes; a name under it does not.
  assert.equal(await status({ Origin: "https://app.example.com", Host: "sip.example.NET" }), "101");
  assert.equal(
    await status({ Origin: "https://app.example.com", Host: "a.sip.example.net" }),
    "403",
  );

  // Settled: the switch holds in every worker, whichever accepts the next handshake.
  ts.server.transport.setWebSocketsEnabled(false);
  await ts.server.settle();
  assert.equal(await status({ Origin: "https://app.example.com" }), "503");
  ts.server.transport.setWebSocketsEnabled(true);
  await ts.server.settle();
  assert.equal(await status({ Origin: "https://app.example.com" }), "101");

  const metrics = await (await createApiApp(ts.server).request("/metrics", {
    headers: { authorization: "Bearer k" },
  })).text();
  assert.match(metrics, /^sipws_ws_handshakes_refused_total\{reason="origin"\} 3$/m);
  assert.match(metrics, /^sipws_ws_handshakes_refused_total\{reason="host"\} 2$/m);
  assert.match(metrics, /^sipws_ws_handshakes_refused_total\{reason="disabled"\} 1$/m);

  // cors = any on reload: `*`, whatever the Origin.
  const next = structuredClone(ts.config);
  next.websocket.cors = "any";
  await ts.server.reload(next);
  const any = await handshake(port, { ...SIP, Origin: "https://a.example.org" });
  assert.match(any, /^access-control-allow-origin: \*$/im);
  next.websocket.cors = "none";
  await ts.server.reload(next);
  const none = await handshake(port, { ...SIP, Origin: "https://a.example.org" });
  assert.match(none, /^HTTP\/1\.1 101/);
  assert.doesNotMatch(none, /access-control-allow-origin/i);
});

Deno.test("an empty allowed_origins allows every origin, with one warning at start", async () => {
  const logged: LogRecord[] = [];
  configureLog({ verbosity: 2, sinks: [(record) => logged.push(record)] });
  try {
    await using ts = await startTestServer({ transports: ["ws", "wss"] });
    assert.equal(
      logged.filter((r) => r.level === "warn" && /allowed_origins is empty/.test(r.message))
        .length,
      1,
    );
    const port = ts.port("ws");
    assert.match(await handshake(port, { ...SIP, Origin: "https://anything.test" }), / 101 /);
    assert.match(await handshake(port, SIP), / 101 /);
  } finally {
    configureLog({ verbosity: 0, sinks: [] });
  }
});
