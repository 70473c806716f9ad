import assert from "node:assert/strict";
import { startTestServer } from "./support/test_server.ts";
import { register, registerRequest, TestSipClient } from "./support/sip_client.ts";
import { until } from "./support/poll.ts";
import { ALICE } from "./support/accounts.ts";

for (const transport of ["udp", "tcp", "tls", "ws", "wss"] as const) {
  Deno.test(`registrar over ${transport}: challenge, register, refresh, unregister`, async () => {
    await using ts = await startTestServer({ transports: [transport], accounts: [ALICE] });
    const client = await TestSipClient.connect(transport, ts.port(transport));
    try {
      const callId = `reg-${transport}-${crypto.randomUUID()}`;
      const ok = await register(client, { ...ALICE, expires: 600, callId });
      assert.equal(ok.status, 200, `${ok.status} ${ok.reason}`);
      const contacts = ok.getAll("contact");
      assert.equal(contacts.length, 1);
      assert.match(contacts[0], /;expires=(600|599)/);
      assert.ok(contacts[0].includes(client.contactUri.split(";")[0]));
      assert.equal(ok.getAll("via").length, 1, "exactly one Via back to the client");
      assert.equal(ts.server.location.lookup("alice@example.test").length, 1);
      assert.equal(ts.server.location.lookup("alice@example.test")[0].flow.transport, transport);

      const refreshed = await register(client, { ...ALICE, expires: 300, callId });
      assert.equal(refreshed.status, 200);
      assert.match(refreshed.getAll("contact")[0], /;expires=(300|299)/);
      assert.equal(ts.server.location.size, 1, "a refresh replaces, it does not add");

      const removed = await register(client, { ...ALICE, expires: 0, callId });
      assert.equal(removed.status, 200);
      assert.equal(removed.getAll("contact").length, 0);
      assert.equal(ts.server.location.size, 0);
    } finally {
      client.close();
    }
  });
}

Deno.test("registrar: wrong password is 403, unknown user 403, no credentials 401 MD5 first", async () => {
  await using ts = await startTestServer({ transports: ["udp"], accounts: [ALICE] });
  const client = await TestSipClient.connect("udp", ts.port("udp"));
  try {
    const bad = await register(client, { ...ALICE, password: "nope" });
    assert.equal(bad.status, 403);
    const unknown = await register(client, { ...ALICE, user: "mallory" });
    assert.equal(unknown.status, 403);
    await client.send(registerRequest(client, { ...ALICE, callId: "c401" }, 1));
    const challenge = await client.response("c401", 1);
    assert.equal(challenge.status, 401);
    const challenges = challenge.getAll("www-authenticate");
    assert.match(challenges[0], /algorithm=MD5/);
    assert.match(challenges[1], /algorithm=SHA-256/);
    assert.ok(challenge.get("to")!.includes("tag="));
  } finally {
    client.close();
  }
});

Deno.test("registrar: Min-Expires 423, wildcard, expiry, several contacts", async () => {
  await using ts = await startTestServer({
    transports: ["udp"],
    accounts: [ALICE],
    configure: (c) => c.sip.minExpires = 60,
  });
  const client = await TestSipClient.connect("udp", ts.port("udp"));
  try {
    const brief = await register(client, { ...ALICE, expires: 10 });
    assert.equal(brief.status, 423);
    assert.equal(brief.get("min-expires"), "60");

    const callId = "multi";
    await register(client, { ...ALICE, expires: 120, callId, contact: "sip:a@127.0.0.1:5999" });
    const two = await register(client, {
      ...ALICE,
      expires: 120,
      callId,
      contact: "sip:b@127.0.0.1:5998",
    });
    assert.equal(two.status, 200);
    assert.equal(two.getAll("contact").length, 2, "200 lists every current contact");
    // On one comma-separated line (§7.3.1), each with its own expires.
    const lines = two.headers.filter((h) => h.key === "contact").map((h) => h.value);
    assert.equal(lines.length, 1);
    assert.match(
      lines[0],
      /^<sip:[ab]@127\.0\.0\.1:599[89]>;expires=(120|119), <sip:[ab]@127\.0\.0\.1:599[89]>;expires=(120|119)$/,
    );

    // Refreshes list the bindings' current texts: the same list again, then a changed
    // expires (the 200's list and the refreshed binding's kept text are both reused while
    // nothing changed, so a change must show).
    const again = await register(client, {
      ...ALICE,
      expires: 120,
      callId,
      contact: "sip:b@127.0.0.1:5998",
    });
    assert.equal(again.get("contact"), lines[0]);
    const shorter = await register(client, {
      ...ALICE,
      expires: 90,
      callId,
      contact: "sip:b@127.0.0.1:5998",
    });
    assert.match(shorter.get("contact")!, /<sip:b@127\.0\.0\.1:5998>;expires=(90|89)(,|$)/);
    assert.match(shorter.get("contact")!, /<sip:a@127\.0\.0\.1:5999>;expires=(120|119)(,|$)/);
    const back = await register(client, {
      ...ALICE,
      expires: 120,
      callId,
      contact: "sip:b@127.0.0.1:5998",
    });
    assert.match(back.get("contact")!, /<sip:b@127\.0\.0\.1:5998>;expires=(120|119)(,|$)/);

    const badStar = await register(client, { ...ALICE, expires: 60, callId, contact: "*" });
    assert.equal(badStar.status, 400, "* needs Expires: 0");
    const star = await register(client, { ...ALICE, expires: 0, callId, contact: "*" });
    assert.equal(star.status, 200);
    assert.equal(star.getAll("contact").length, 0);
    assert.equal(ts.server.location.size, 0);

    // Expires is delta-seconds: digits only; a value past the largest granted gets that one.
    for (const bad of ["abc", "-5", "0x10", "1e3"]) {
      const param = await register(client, { ...ALICE, contactParams: `;expires=${bad}` });
      assert.equal(param.status, 400, `;expires=${bad}`);
      const header = await register(client, { ...ALICE, extraHeaders: [`Expires: ${bad}`] });
      assert.equal(header.status, 400, `Expires: ${bad}`);
    }
    for (const long of ["99999999999", "0000000000003600"]) {
      const ok = await register(client, { ...ALICE, contactParams: `;expires=${long}` });
      assert.equal(ok.status, 200, `;expires=${long}`);
      assert.match(ok.get("contact")!, /;expires=3600$/);
    }
  } finally {
    client.close();
  }
});

Deno.test("registrar: binding expires and disappears", async () => {
  await using ts = await startTestServer({
    transports: ["udp"],
    accounts: [ALICE],
    configure: (c) => c.sip.minExpires = 1,
  });
  const client = await TestSipClient.connect("udp", ts.port("udp"));
  try {
    const ok = await register(client, { ...ALICE, expires: 1 });
    assert.equal(ok.status, 200);
    assert.equal(ts.server.location.size, 1);
    // Swept within a second of expiring (the sweep runs every second), given a loaded machine.
    await until("the expired binding swept", () => ts.server.location.size === 0 || undefined);
  } finally {
    client.close();
  }
});

Deno.test("registrar: a closed WebSocket removes its bindings at once", async () => {
  await using ts = await startTestServer({ transports: ["ws"], accounts: [ALICE] });
  const client = await TestSipClient.connect("ws", ts.port("ws"));
  const ok = await register(client, { ...ALICE, expires: 600 });
  assert.equal(ok.status, 200);
  assert.equal(ts.server.location.size, 1);
  client.close();
  await client.closed;
  // At once: on the close, long before the binding's 600 s expiry.
  await until(
    "the binding gone with its WebSocket",
    () => ts.server.location.size === 0 || undefined,
  );
});

Deno.test("websocket keep-alive: the server sends CRLFCRLF every keepalive_interval", async () => {
  await using ts = await startTestServer({
    transports: ["ws"],
    configure: (c) => c.websocket.keepaliveInterval = 1,
  });
  const client = await TestSipClient.connect("ws", ts.port("ws"));
  try {
    const text = () => client.raw.map((b) => new TextDecoder().decode(b));
    // The first one a second after the connection opened; later on a loaded machine.
    await until(
      "a CRLFCRLF keep-alive",
      () => text().includes("\r\n\r\n") || undefined,
      10_000,
      () => JSON.stringify(text()),
    );
  } finally {
    client.close();
  }
});

for (const transport of ["udp", "tcp", "ws"] as const) {
  Deno.test(`IPv6: bound to all addresses, a ${transport} client on ::1 registers`, async () => {
    await using ts = await startTestServer({
      transports: [transport],
      accounts: [ALICE],
      configure: (c) => c.interface = "0.0.0.0",
    });
    const client = await TestSipClient.connect(transport, ts.port(transport), "::1");
    try {
      const ok = await register(client, { ...ALICE, expires: 600 });
      assert.equal(ok.status, 200, `${ok.status} ${ok.reason}`);
      const [binding] = ts.server.location.lookup("alice@example.test");
      assert.equal(binding.flow.remote.host, "::1");
      assert.ok(ok.getAll("contact")[0].includes(client.contactUri.split(";")[0]));
      if (transport === "udp") assert.match(ok.get("via")!, /received=::1|rport=\d+/);
    } finally {
      client.close();
    }
  });
}

Deno.test("outbound (RFC 5626) and Path (RFC 3327) on REGISTER", async () => {
  await using ts = await startTestServer({ transports: ["ws", "udp"], accounts: [ALICE] });
  const ws = await TestSipClient.connect("ws", ts.port("ws"));
  const udp = await TestSipClient.connect("udp", ts.port("udp"));
  try {
    const instance = `"<urn:uuid:${crypto.randomUUID()}>"`;
    const ok = await register(ws, {
      ...ALICE,
      expires: 600,
      contactParams: `;+sip.instance=${instance};reg-id=1`,
      extraHeaders: ["Supported: path, gruu, outbound"],
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.get("require"), "outbound");
    assert.ok(ok.getAll("contact")[0].includes(`+sip.instance=${instance}`));
    const [binding] = ts.server.location.lookup("alice@example.test");
    assert.equal(binding.regId, 1);
    assert.equal(binding.flow.transport, "ws");

    const viaPath = await register(udp, {
      ...ALICE,
      expires: 600,
      contact: "sip:alice@127.0.0.1:7777",
      extraHeaders: ["Supported: path", "Path: <sip:edge.example.test;lr>"],
    });
    assert.equal(viaPath.status, 200);
    assert.equal(viaPath.get("path"), "<sip:edge.example.test;lr>");
    const pathed = ts.server.location.lookup("alice@example.test").find((b) => b.path.length > 0);
    assert.deepEqual(pathed?.path, ["<sip:edge.example.test;lr>"]);
    assert.equal(viaPath.getAll("contact").length, 2, "both contacts listed");
  } finally {
    ws.close();
    udp.close();
  }
});

Deno.test("OPTIONS to the server: 200 with Allow, Accept, Supported", async () => {
  await using ts = await startTestServer({ transports: ["tcp"] });
  const client = await TestSipClient.connect("tcp", ts.port("tcp"));
  try {
    await client.send([
      `OPTIONS sip:127.0.0.1:${ts.port("tcp")} SIP/2.0`,
      `Via: ${client.via};branch=z9hG4bKopt1`,
      "Max-Forwards: 70",
      "From: <sip:probe@example.test>;tag=p1",
      "To: <sip:127.0.0.1>",
      "Call-ID: options-1",
      "CSeq: 1 OPTIONS",
      "Content-Length: 0",
      "",
      "",
    ].join("\r\n"));
    const ok = await client.response("options-1", 1);
    assert.equal(ok.status, 200);
    for (const m of ["INVITE", "REGISTER", "OPTIONS", "MESSAGE", "CANCEL", "BYE"]) {
      assert.ok(ok.get("allow")!.includes(m), `Allow lists ${m}`);
    }
    assert.match(ok.get("accept")!, /application\/sdp/);
    assert.match(ok.get("supported")!, /outbound/);
  } finally {
    client.close();
  }
});

Deno.test("challenges: every algorithm on UDP in configured order, only the preferred on WS", async () => {
  await using ts = await startTestServer({
    transports: ["udp", "ws"],
    accounts: [ALICE],
    configure: (c) => c.sip.digestAlgorithms = ["SHA-256", "MD5"],
  });
  for (const transport of ["udp", "ws"] as const) {
    const client = await TestSipClient.connect(transport, ts.port(transport));
    try {
      const callId = `order-${transport}`;
      await client.send(registerRequest(client, { ...ALICE, callId }, 1));
      const challenge = await client.response(callId, 1);
      const offered = challenge.getAll("www-authenticate").map((v) =>
        /algorithm=([\w-]+)/.exec(v)![1]
      );
      assert.deepEqual(offered, transport === "udp" ? ["SHA-256", "MD5"] : ["SHA-256"]);
      const ok = await register(client, { ...ALICE });
      assert.equal(ok.status, 200, `${transport}: SHA-256 credentials accepted`);
    } finally {
      client.close();
    }
  }
});

Deno.test("UDP receive buffer: the kernel reports the size asked for (Linux)", {
  ignore: Deno.build.os !== "linux",
}, async () => {
  await using ts = await startTestServer({
    transports: ["udp"],
    configure: (c) => c.sip.udpReceiveBuffer = 262144,
  });
  const port = ts.port("udp");
  const ss = await new Deno.Command("ss", { args: ["-ulmnH", `sport = :${port}`] }).output();
  const rb = Number(/rb(\d+)/.exec(new TextDecoder().decode(ss.stdout))?.[1]);
  // The kernel caps the request at net.core.rmem_max and doubles it for its bookkeeping.
  const rmemMax = Number(await Deno.readTextFile("/proc/sys/net/core/rmem_max"));
  assert.equal(rb, 2 * Math.min(262144, rmemMax));
});

Deno.test("registrar: what it keeps per To and Contact does not outlive a change of served domain or Contact params", async () => {
  await using ts = await startTestServer({ transports: ["udp"], accounts: [ALICE] });
  const client = await TestSipClient.connect("udp", ts.port("udp"));
  try {
    const callId = `keep-${crypto.randomUUID()}`;
    // The same To and Contact twice: the second REGISTER reuses what the first computed.
    const first = await register(client, { ...ALICE, callId, contactParams: ";expires=600" });
    assert.equal(first.status, 200, `${first.status} ${first.reason}`);
    assert.match(first.getAll("contact")[0], /^<[^>]+>;expires=(600|599)$/);
    const again = await register(client, { ...ALICE, callId, contactParams: ";expires=600" });
    assert.match(again.getAll("contact")[0], /^<[^>]+>;expires=(600|599)$/);
    // Other Contact params: another binding text, not the kept one.
    const other = await register(client, { ...ALICE, callId, contactParams: ";x-tag=a" });
    assert.equal(other.status, 200);
    assert.match(other.getAll("contact")[0], /^<[^>]+>;x-tag=a;expires=\d+$/);
    const [binding] = ts.server.location.lookup("alice@example.test");
    assert.equal(binding.contactParams, ";x-tag=a");
    // The domain goes: the To seen before is refused now.
    await ts.server.store.deleteDomain("example.test");
    await ts.server.store.putAccount({ user: "alice", domain: "other.test", password: "x" });
    const refused = await register(client, { ...ALICE, callId });
    assert.equal(refused.status, 403);
    assert.equal(refused.reason, "Domain Not Served");
  } finally {
    client.close();
  }
});
