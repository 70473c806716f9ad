/**
 * @module Integration tests of the HTTP control API against a real in-process server (UDP
 * on loopback, a temporary sqlite store) and a real HTTP listener: the SIPWS protocol's
 * requests, the mediaswitch directory and registration shapes, the operator views, metrics,
 * OpenAPI, and the error contract (bad JSON, bad field, missing/wrong key, unknown
 * domain/user/path). Registrations come from a minimal UDP user agent with digest auth.
 */
import assert from "node:assert/strict";
import { startHttpApi } from "../src/api/http_server.ts";
import { defaultConfig } from "../src/config/config.ts";
import { startServer } from "../src/server.ts";
import { startControlApi } from "../src/api/control_api.ts";
import type { SipResponse } from "../src/sip/message.ts";
import { parseMessage } from "../src/sip/parse.ts";
import { createApiApp } from "../src/api/app.ts";
import { openApiDocument } from "../src/api/openapi.ts";
import { computeHa1 } from "../src/sip/digest_hash.ts";
import { md5RegisterAuthorization } from "./support/sip_client.ts";

const KEYS = ["first-key", "second-key"];

async function withApi(
  fn: (api: Api) => Promise<void>,
  tweak: (c: ReturnType<typeof defaultConfig>) => void = () => {},
) {
  const dir = await Deno.makeTempDir({ prefix: "sipws-api-" });
  const config = defaultConfig();
  config.interface = "127.0.0.1";
  config.udpPort = 0;
  config.storePath = `${dir}/sipws.db`;
  config.keys = [...KEYS];
  config.ping.interval = 0;
  tweak(config);
  const server = await startServer(config, [startControlApi]);
  const http = startHttpApi(server, 0, "127.0.0.1");
  const udp = server.transport.listening().find((l) => l.transport === "udp")!;
  try {
    await fn(new Api(`http://127.0.0.1:${http.port}`, udp.local.port, server));
  } finally {
    await http.close();
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

class Api {
  constructor(
    readonly base: string,
    readonly sipPort: number,
    readonly server: Awaited<ReturnType<typeof startServer>>,
  ) {}

  async call(
    method: string,
    path: string,
    body?: unknown,
    key: string | null = KEYS[0],
    // deno-lint-ignore no-explicit-any
  ): Promise<{ status: number; json: any; text: string; type: string }> {
    const headers: Record<string, string> = {};
    if (key !== null) headers.authorization = `Bearer ${key}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(this.base + path, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const type = res.headers.get("content-type") ?? "";
    // An event stream never ends by itself: its status and type are what is checked.
    if (type.startsWith("text/event-stream")) {
      await res.body?.cancel();
      return { status: res.status, json: undefined, text: "", type };
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, json, text, type };
  }

  sipws(body: Record<string, unknown>) {
    return this.call("POST", "/", body, null);
  }
}

/** A minimal UDP UAC: REGISTER, answer the digest challenge, return the final response. */
async function register(
  sipPort: number,
  user: string,
  domain: string,
  password: string,
  expires = 600,
  agent = "test-ua 1.0",
): Promise<{ response: SipResponse; localPort: number; socket: Deno.DatagramConn }> {
  const socket = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  const localPort = (socket.addr as Deno.NetAddr).port;
  const callId = `${crypto.randomUUID()}@127.0.0.1`;
  let authorization: string | undefined;
  for (let cseq = 1; cseq <= 3; cseq++) {
    const lines = [
      `REGISTER sip:${domain} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${localPort};branch=z9hG4bK${crypto.randomUUID()};rport`,
      "Max-Forwards: 70",
      `From: <sip:${user}@${domain}>;tag=t${cseq}x`,
      `To: <sip:${user}@${domain}>`,
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} REGISTER`,
      `Contact: <sip:${user}@127.0.0.1:${localPort};rinstance=r${user}>`,
      `Expires: ${expires}`,
      `User-Agent: ${agent}`,
      ...(authorization ? [`Authorization: ${authorization}`] : []),
      "Content-Length: 0",
      "",
      "",
    ];
    await socket.send(new TextEncoder().encode(lines.join("\r\n")), {
      transport: "udp",
      hostname: "127.0.0.1",
      port: sipPort,
    });
    const response = await receiveResponse(socket);
    if (response.status !== 401) return { response, localPort, socket };
    authorization = md5RegisterAuthorization(response.get("www-authenticate")!, {
      user,
      password,
      uri: `sip:${domain}`,
      cnonce: "abc",
    });
  }
  throw new Error("too many challenges");
}

async function receiveResponse(socket: Deno.DatagramConn): Promise<SipResponse> {
  for (let i = 0; i < 10; i++) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("no SIP response within 3 s")), 3000);
    });
    try {
      const [bytes] = await Promise.race([socket.receive(), timeout]);
      const message = parseMessage(bytes);
      if (!message.isRequest && message.status >= 200) return message;
    } finally {
      clearTimeout(timer);
    }
  }
  throw new Error("no final response");
}

const SEED_PUT = {
  q: "put",
  domain: "example.test",
  key: KEYS[1],
  data: [
    {
      o: "+",
      u: "100",
      k: "secret100",
      cn: "Alice",
      description: "desk",
      i: "http://acme.com/i/100.png",
    },
    { o: "+", u: "101", k: "secret101", cn: "Bob", description: "", i: "" },
  ],
  v: 124,
};

Deno.test("SIPWS put/list/clear: v is the version before the update; every key works", async () => {
  await withApi(async (api) => {
    const first = await api.sipws(SEED_PUT);
    assert.equal(first.status, 200, first.text);
    assert.deepEqual(first.json, { q: "put", errorcode: "0", v: 0 });
    const second = await api.sipws({
      q: "put",
      domain: "example.test",
      key: KEYS[0],
      data: [{ o: "-", u: "101" }, { o: "+", u: "102", k: "x" }],
    });
    assert.deepEqual(second.json, { q: "put", errorcode: "0", v: 1 });
    assert.equal(api.server.store.getAccount("example.test", "101"), undefined);
    assert.ok(api.server.store.getAccount("example.test", "102"));

    const list = await api.sipws({ q: "list", domain: "example.test", key: KEYS[1] });
    assert.equal(list.status, 200);
    assert.equal(list.json.q, "list");
    const alice = list.json.registry.find((a: { id: string }) => a.id === "100");
    assert.deepEqual(alice, {
      avail: "0",
      origin: "registry",
      key: "100@example.test",
      cn: "Alice",
      description: "desk",
      id: "100",
      domain: "example.test",
      image: "http://acme.com/i/100.png",
    });
    assert.equal(list.json.registry.length, 2);

    const clear = await api.sipws({ q: "clear", domain: "", key: KEYS[0] });
    assert.deepEqual(clear.json, { q: "clear", errorcode: "0", v: 2 });
    assert.equal(api.server.store.listAccounts().length, 0);
  });
});

Deno.test("SIPWS stop really stops SIP, start resumes it", async () => {
  await withApi(async (api) => {
    await api.sipws(SEED_PUT);
    const stop = await api.sipws({ q: "stop", domain: "", key: KEYS[0] });
    assert.deepEqual(stop.json, { q: "stop", errorcode: "0" });
    assert.equal(api.server.transport.accepting, false);
    await assert.rejects(
      () => register(api.sipPort, "100", "example.test", "secret100").then((r) => r.socket.close()),
      /no SIP response/,
    );
    const start = await api.sipws({ q: "start", domain: "", key: KEYS[1] });
    assert.deepEqual(start.json, { q: "start", errorcode: "0" });
    const { response, socket } = await register(api.sipPort, "100", "example.test", "secret100");
    socket.close();
    assert.equal(response.status, 200);
  });
});

Deno.test("SIPWS errors: missing key 401, wrong key 403, bad JSON, bad q, bad entry", async () => {
  await withApi(async (api) => {
    const missing = await api.sipws({ q: "list", domain: "" });
    assert.equal(missing.status, 401);
    assert.equal(missing.json.errorcode, "1");
    assert.equal(missing.json.q, "list");
    assert.equal(missing.json.error.code, "unauthorized");
    const wrong = await api.sipws({ q: "stop", domain: "", key: "nope" });
    assert.equal(wrong.status, 403);
    assert.equal(wrong.json.errorcode, "1");
    assert.equal(wrong.json.error.code, "forbidden");
    assert.equal(api.server.transport.accepting, true, "a wrong key must not stop SIP");
    const badJson = await api.call("POST", "/", "{q:", null);
    assert.equal(badJson.status, 400);
    assert.equal(badJson.json.error.code, "invalid_json");
    const notObject = await api.call("POST", "/", "[1]", null);
    assert.equal(notObject.json.error.code, "invalid_json");
    const badQ = await api.sipws({ q: "explode", key: KEYS[0] });
    assert.equal(badQ.status, 400);
    assert.equal(badQ.json.error.code, "invalid_field");
    assert.equal(badQ.json.error.field, "q");
    const badEntry = await api.sipws({
      q: "put",
      domain: "example.test",
      key: KEYS[0],
      data: [{ o: "+", u: "1", k: "a" }, { o: "*", u: "2", k: "b" }],
    });
    assert.equal(badEntry.status, 400);
    assert.equal(badEntry.json.errorcode, "2");
    assert.equal(badEntry.json.error.field, "data[1].o");
    assert.equal(api.server.store.listAccounts().length, 0, "a bad batch changes nothing");
    // A Bearer header is as good as a body key.
    const viaHeader = await api.call("POST", "/", { q: "list", domain: "" }, KEYS[1]);
    assert.equal(viaHeader.status, 200);
  });
});

Deno.test("no keys configured: every keyed request is refused", async () => {
  await withApi(async (api) => {
    const r = await api.call("GET", "/reg", undefined, "anything");
    assert.equal(r.status, 403);
    assert.match(r.json.error.message, /no API keys/);
  }, (c) => c.keys = []);
});

Deno.test("mediaswitch directory: PUT domain (201), users, PATCH, GET, DELETE", async () => {
  await withApi(async (api) => {
    const put = await api.call("PUT", "/dir/bling.babblevoice.com", {
      control: "http://127.0.0.1:9001",
      users: [{ username: "1003", secret: "1123654789" }, { username: "1000", secret: "x" }],
    });
    assert.equal(put.status, 201, put.text);
    assert.deepEqual(put.json, {
      domain: "bling.babblevoice.com",
      control: "http://127.0.0.1:9001",
      users: [{ username: "1000" }, { username: "1003" }],
    });
    const ha1Before = api.server.store.getAccount("bling.babblevoice.com", "1003")!.ha1.md5;
    assert.equal(ha1Before, computeHa1("MD5", "1003", "bling.babblevoice.com", "1123654789"));

    // control as {host, port}
    const hp = await api.call("PUT", "/dir/other.test", {
      control: { host: "127.0.0.1", port: 9002 },
    });
    assert.equal(hp.status, 201);
    assert.equal(hp.json.control, "http://127.0.0.1:9002");

    const patch = await api.call("PATCH", "/dir/bling.babblevoice.com/1003", { cn: "Desk" });
    assert.equal(patch.status, 200, patch.text);
    assert.deepEqual(patch.json, { domain: "bling.babblevoice.com", username: "1003", cn: "Desk" });
    assert.equal(api.server.store.getAccount("bling.babblevoice.com", "1003")!.ha1.md5, ha1Before);
    const putUser = await api.call("PUT", "/dir/bling.babblevoice.com/1003", { secret: "new" });
    assert.equal(putUser.status, 200);
    assert.equal(
      api.server.store.getAccount("bling.babblevoice.com", "1003")!.ha1.md5,
      computeHa1("MD5", "1003", "bling.babblevoice.com", "new"),
    );
    const created = await api.call("PUT", "/dir/bling.babblevoice.com/1001", { secret: "s" });
    assert.equal(created.status, 201);
    const noSecret = await api.call("PUT", "/dir/bling.babblevoice.com/1009", { cn: "x" });
    assert.equal(noSecret.status, 400);
    assert.equal(noSecret.json.error.field, "secret");

    const get = await api.call("GET", "/dir/bling.babblevoice.com");
    assert.equal(get.status, 200);
    assert.equal(get.json.users.length, 3);
    assert.ok(!get.text.includes("secret") && !get.text.includes(ha1Before), "no secrets listed");
    const all = await api.call("GET", "/dir");
    assert.deepEqual(all.json.domains.map((d: { domain: string }) => d.domain).sort(), [
      "bling.babblevoice.com",
      "other.test",
    ]);

    const delUser = await api.call("DELETE", "/dir/bling.babblevoice.com/1000");
    assert.equal(delUser.status, 200);
    assert.equal((await api.call("DELETE", "/dir/bling.babblevoice.com/1000")).status, 404);
    assert.equal((await api.call("GET", "/dir/bling.babblevoice.com/1000")).status, 404);
    const delDomain = await api.call("DELETE", "/dir/other.test");
    assert.equal(delDomain.status, 200);
    const gone = await api.call("GET", "/dir/other.test");
    assert.equal(gone.status, 404);
    assert.equal(gone.json.error.code, "not_found");
  });
});

Deno.test("directory errors: bad JSON, bad control, bad users, unknown fields", async () => {
  await withApi(async (api) => {
    const cases: [unknown, string][] = [
      ["{", "invalid_json"],
      ["", "invalid_json"],
      [{ control: "ftp://x" }, "invalid_field"],
      [{ control: "not a url" }, "invalid_field"],
      [{ control: { host: "h", port: 70000 } }, "invalid_field"],
      [{ users: {} }, "invalid_field"],
      [{ users: [{ username: "a" }] }, "invalid_field"],
      [{ users: [{ username: "a", secret: 5 }] }, "invalid_field"],
      [
        { users: [{ username: "a", secret: "s" }, { username: "a", secret: "t" }] },
        "invalid_field",
      ],
      [{ controll: "http://x" }, "invalid_field"],
    ];
    for (const [body, code] of cases) {
      const r = await api.call("PUT", "/dir/d.test", body);
      assert.equal(r.status, 400, `${JSON.stringify(body)} → ${r.text}`);
      assert.equal(r.json.error.code, code, JSON.stringify(body));
      assert.equal(typeof r.json.error.message, "string");
    }
    assert.equal(api.server.store.getDomain("d.test"), undefined, "nothing was written");
  });
});

Deno.test("mediaswitch registrations: /reg, /reg/{domain}, /reg/{domain}/{user}, admin DELETE", async () => {
  await withApi(async (api) => {
    await api.call("PUT", "/dir/bling.babblevoice.com", {
      users: [
        { username: "1000", secret: "a" },
        { username: "1001", secret: "b" },
        { username: "1003", secret: "1123654789" },
      ],
    });
    const before = Math.floor(Date.now() / 1000);
    const reg = await register(
      api.sipPort,
      "1003",
      "bling.babblevoice.com",
      "1123654789",
      600,
      "Z 5.2.28 rv2.8.114",
    );
    try {
      assert.equal(reg.response.status, 200);
      const count = await api.call("GET", "/reg/");
      assert.deepEqual(count.json, { count: 1 });
      const domain = await api.call("GET", "/reg/bling.babblevoice.com");
      assert.equal(domain.status, 200);
      const epoch = domain.json.users["1003"].epochs.registered;
      assert.ok(epoch >= before - 1 && epoch <= before + 5);
      assert.deepEqual(domain.json, {
        domain: "bling.babblevoice.com",
        count: 3,
        registered: 1,
        users: {
          "1000": { registered: false },
          "1001": { registered: false },
          "1003": {
            registered: true,
            outstandingping: 0,
            remote: { host: "127.0.0.1", port: reg.localPort, agent: "Z 5.2.28 rv2.8.114" },
            epochs: { registered: epoch },
          },
        },
      });
      const one = await api.call("GET", "/reg/bling.babblevoice.com/1003");
      assert.deepEqual(Object.keys(one.json.users), ["1003"]);
      assert.equal(one.json.registered, 1);
      assert.equal((await api.call("GET", "/reg/bling.babblevoice.com/9999")).status, 404);
      assert.equal((await api.call("GET", "/reg/nowhere.test")).status, 404);

      const list = await api.sipws({ q: "list", domain: "bling.babblevoice.com", key: KEYS[0] });
      const entry = list.json.registry.find((a: { id: string }) => a.id === "1003");
      assert.equal(entry.avail, "1");
      assert.equal(entry.proto, "udp");
      assert.equal(entry.host, "127.0.0.1");
      assert.equal(entry.port, reg.localPort);
      assert.equal(entry.rinstance, "r1003");
      assert.ok(entry.expire > 590 && entry.expire <= 600);
      assert.equal(entry.registered, epoch);
      const get = await api.call("GET", "/?key=second-key", undefined, null);
      assert.deepEqual(get.json.registry.map((a: { id: string }) => a.id), ["1003"]);
      assert.equal((await api.call("GET", "/", undefined, null)).status, 401);

      const del = await api.call("DELETE", "/reg/bling.babblevoice.com/1003");
      assert.equal(del.status, 200);
      assert.equal(api.server.location.size, 0);
      assert.equal((await api.call("DELETE", "/reg/bling.babblevoice.com/1003")).status, 404);
    } finally {
      reg.socket.close();
    }
  });
});

Deno.test("deleting a user drops its registration", async () => {
  await withApi(async (api) => {
    await api.sipws(SEED_PUT);
    const reg = await register(api.sipPort, "100", "example.test", "secret100");
    reg.socket.close();
    assert.equal(api.server.location.size, 1);
    await api.sipws({
      q: "put",
      domain: "example.test",
      key: KEYS[0],
      data: [{ o: "-", u: "100" }],
    });
    assert.equal(api.server.location.size, 0);
  });
});

Deno.test("views, metrics, healthz, OpenAPI; keys on every endpoint", async () => {
  await withApi(async (api) => {
    const dialogs = await api.call("GET", "/dialog");
    assert.equal(dialogs.status, 200);
    assert.deepEqual(dialogs.json, { count: 0, dialogs: [] });
    const ws = await api.call("GET", "/ws");
    assert.deepEqual(ws.json, { count: 0, offset: 0, limit: 1000, enabled: true, connections: [] });
    assert.equal((await api.call("POST", "/ws/ws:999/close")).status, 404);
    assert.equal((await api.call("POST", "/ws/ws:999/ping")).status, 404);

    await api.sipws(SEED_PUT);
    const reg = await register(api.sipPort, "100", "example.test", "secret100");
    reg.socket.close();
    const metrics = await api.call("GET", "/metrics");
    assert.equal(metrics.status, 200);
    assert.match(metrics.type, /^text\/plain/);
    assert.match(metrics.text, /^# TYPE sipws_registrations gauge$/m);
    assert.match(metrics.text, /^sipws_registrations 1$/m);
    assert.match(metrics.text, /^sipws_accounts 2$/m);
    assert.match(
      metrics.text,
      /^sipws_sip_messages_in_total\{method="REGISTER",transport="udp"\} 2$/m,
    );
    assert.match(metrics.text, /^sipws_ws_connections 0$/m);
    assert.match(metrics.text, /^sipws_uptime_seconds \d+$/m);
    assert.match(metrics.text, /^sipws_http_requests_total\{method="POST",status="200"\} \d+$/m);

    const health = await api.call("GET", "/healthz", undefined, null);
    assert.equal(health.status, 200);
    assert.equal(health.json.status, "ok");

    const doc = await api.call("GET", "/openapi.json");
    assert.equal(doc.json.openapi, "3.1.0");
    assert.deepEqual(doc.json, openApiDocument());
    // Every route the API serves is documented, with each of its methods.
    const paths = doc.json.paths as Record<string, Record<string, unknown>>;
    for (const route of createApiApp(api.server).routes) {
      if (route.method === "ALL") continue; // middleware
      const path = route.path.replace(/:(\w+)/g, "{$1}");
      const documented = paths[path]?.[route.method.toLowerCase()];
      assert.ok(documented, `${route.method} ${path} is not in the OpenAPI document`);
    }

    const endpoints: [string, string][] = [
      ["GET", "/reg"],
      ["GET", "/reg/example.test"],
      ["GET", "/dir"],
      ["GET", "/dir/example.test"],
      ["PUT", "/dir/example.test"],
      ["PATCH", "/dir/example.test/100"],
      ["DELETE", "/dir/example.test"],
      ["DELETE", "/reg/example.test/100"],
      ["GET", "/dialog"],
      ["GET", "/ws"],
      ["POST", "/ws/x/close"],
      ["GET", "/metrics"],
      ["GET", "/openapi.json"],
      ["GET", "/nowhere"],
    ];
    for (const [method, path] of endpoints) {
      const missing = await api.call(method, path, method === "GET" ? undefined : {}, null);
      assert.equal(missing.status, 401, `${method} ${path} without key`);
      assert.equal(missing.json.error.code, "unauthorized");
      const wrong = await api.call(method, path, method === "GET" ? undefined : {}, "bad");
      assert.equal(wrong.status, 403, `${method} ${path} with a wrong key`);
    }
    assert.equal(api.server.store.listAccounts().length, 2, "refused requests changed nothing");

    const unknown = await api.call("GET", "/nowhere");
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.error.code, "not_found");
  });
});

Deno.test("every path in the OpenAPI document is routed", async () => {
  await withApi(async (api) => {
    const doc = openApiDocument() as { paths: Record<string, Record<string, unknown>> };
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const method of Object.keys(ops)) {
        if (method === "parameters") continue;
        const concrete = path.replace("{domain}", "nowhere.test").replace("{user}", "u")
          .replace("{id}", "ws:0").replace("{callid}", "nocall");
        const r = await api.call(method.toUpperCase(), concrete, method === "get" ? undefined : {});
        assert.ok(
          r.status !== 404 || r.json?.error?.message?.startsWith("no such endpoint") === false,
          `${method} ${path} is not routed`,
        );
      }
    }
  });
});

Deno.test("GET /bindings lists each contact; DELETE /bindings/{id} removes only that one", async () => {
  await withApi(async (api) => {
    await api.sipws(SEED_PUT);
    const a = await register(api.sipPort, "100", "example.test", "secret100", 600, "phone-a");
    const b = await register(api.sipPort, "100", "example.test", "secret100", 600, "phone-b");
    try {
      assert.equal(a.response.status, 200);
      assert.equal(b.response.status, 200);
      const list = await api.call("GET", "/bindings");
      assert.equal(list.status, 200, list.text);
      assert.equal(list.json.count, 2);
      const byAgent = (agent: string) =>
        list.json.bindings.find((x: { userAgent?: string }) => x.userAgent === agent);
      const first = byAgent("phone-a");
      const second = byAgent("phone-b");
      assert.equal(first.aor, "100@example.test");
      assert.equal(first.domain, "example.test");
      assert.equal(first.user, "100");
      assert.equal(first.contact, `sip:100@127.0.0.1:${a.localPort};rinstance=r100`);
      assert.equal(second.contact, `sip:100@127.0.0.1:${b.localPort};rinstance=r100`);
      assert.equal(first.transport, "udp");
      assert.deepEqual(first.remote, { host: "127.0.0.1", port: a.localPort });
      assert.equal(typeof first.flowId, "string");
      assert.ok(first.expiresAt > Date.now() + 590_000 && first.expiresAt <= Date.now() + 600_000);
      assert.ok(first.registeredAt <= Date.now());
      assert.equal(first.outstandingPings, 0);
      assert.notEqual(first.id, second.id);
      assert.match(first.id, /^[A-Za-z0-9_-]+$/, "the id is URL-safe");

      // Keys: 401 without, 403 with a wrong one; nothing is removed.
      for (const [method, path] of [["GET", "/bindings"], ["DELETE", `/bindings/${first.id}`]]) {
        assert.equal((await api.call(method, path, undefined, null)).status, 401);
        assert.equal((await api.call(method, path, undefined, "bad")).status, 403);
      }
      assert.equal(api.server.location.size, 2);

      const del = await api.call("DELETE", `/bindings/${first.id}`);
      assert.equal(del.status, 204, del.text);
      const left = api.server.location.lookup("100@example.test");
      assert.equal(left.length, 1, "the other binding of the AOR stays");
      assert.equal(left[0].contact, second.contact);
      const after = await api.call("GET", "/bindings");
      assert.deepEqual(after.json.bindings.map((x: { id: string }) => x.id), [second.id]);

      const again = await api.call("DELETE", `/bindings/${first.id}`);
      assert.equal(again.status, 404);
      assert.equal(again.json.error.code, "not_found");
      for (const bogus of ["nope", "!!", "AAAA"]) {
        assert.equal((await api.call("DELETE", `/bindings/${bogus}`)).status, 404, bogus);
      }
      assert.equal(api.server.location.size, 1);
    } finally {
      a.socket.close();
      b.socket.close();
    }
  });
});

Deno.test("/healthz: liveness for anyone, version and listening addresses for key holders", async () => {
  await withApi(async (api) => {
    const anon = await api.call("GET", "/healthz", undefined, null);
    assert.equal(anon.status, 200);
    assert.equal(anon.json.status, "ok");
    assert.equal(anon.json.listening, undefined, "no addresses without a key");
    assert.equal(anon.json.version, undefined);
    const wrong = await api.call("GET", "/healthz", undefined, "bad");
    assert.equal(wrong.status, 200);
    assert.equal(wrong.json.listening, undefined);
    const keyed = await api.call("GET", "/healthz");
    assert.deepEqual(keyed.json.listening, [
      { transport: "udp", host: "127.0.0.1", port: api.sipPort },
    ]);
  });
  // The version comes from the options of the HTTP API.
  const dir = await Deno.makeTempDir({ prefix: "sipws-api-" });
  const config = defaultConfig();
  config.interface = "127.0.0.1";
  config.udpPort = 0;
  config.storePath = `${dir}/sipws.db`;
  config.keys = [...KEYS];
  const server = await startServer(config, []);
  const http = startHttpApi(server, 0, "127.0.0.1", { version: "9.8.7" });
  try {
    const res = await fetch(`http://127.0.0.1:${http.port}/healthz`, {
      headers: { authorization: `Bearer ${KEYS[1]}` },
    });
    const body = await res.json();
    assert.equal(body.version, "9.8.7");
    const anon = await (await fetch(`http://127.0.0.1:${http.port}/healthz`)).json();
    assert.equal(anon.version, undefined);
  } finally {
    await http.close();
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
