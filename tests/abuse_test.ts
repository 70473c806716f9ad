/**
 * @module Abuse protection end to end ([abuse], on by default): a real server, clients at
 * several 127/8 source addresses over UDP, TCP and WS. A password guesser is banned after
 * `ban_after` failures (one log line; its datagrams then go unanswered, its TCP and WS
 * connections are closed and new ones refused) while good users at another address, behind the same address after a
 * success, and at a trusted address still register; the operator lists and lifts bans over
 * the API and the domain's control server hears `PUT /ban/{address}`; a flood above the
 * per-source rate gets 503 + Retry-After (one log line) while others are served; connection caps refuse
 * the 101st connection from one address and the one past `max_connections`.
 */
import assert from "node:assert/strict";
import type { Config } from "../src/config/config.ts";
import type { SipResponse } from "../src/sip/message.ts";
import { configureLog, type LogRecord, stderrSink } from "../src/log.ts";
import { optionsRequest, registerStatus, TestSipClient } from "./support/sip_client.ts";
import { apiJson, startTestServer, type TestServer } from "./support/test_server.ts";
import { until } from "./support/poll.ts";
import { connectedIn } from "./support/placed_client.ts";
import { LocalSource } from "../src/tui/local_source.ts";
import { RemoteSource } from "../src/tui/remote_source.ts";
import { banTable, headerLines } from "../src/tui/tables.ts";

const DOMAIN = "example.test";
const ACCOUNTS = ["alice", "bob", "carol", "dave"].map((user) => ({
  user,
  domain: DOMAIN,
  password: `${user}-secret`,
}));
const KEY = "k";

/** Captures warnings and worse until the returned function restores the terminal sink. */
function captureWarnings(): { records: LogRecord[]; restore: () => void } {
  const records: LogRecord[] = [];
  configureLog({ verbosity: 2, sinks: [(record) => records.push(record)] });
  return { records, restore: () => configureLog({ verbosity: 0, sinks: [stderrSink] }) };
}

const lines = (records: LogRecord[], pattern: RegExp) =>
  records.filter((r) => r.level === "warn" && pattern.test(r.message)).length;

/** The API open to KEY, no pings, then `extra`. */
function withApi(extra: (c: Config) => void = () => {}) {
  return {
    apiKey: KEY,
    configure: (c: Config) => {
      c.ping.interval = 0;
      extra(c);
    },
  };
}

/** How long a banned source's silence is awaited (an answer comes well within it). */
const SILENCE_MS = 1000;

/**
 * One REGISTER dance with `password`; undefined when the server stays silent for `timeoutMs`.
 * Expected answers are awaited generously: the machine may be loaded.
 */
function attempt(
  client: TestSipClient,
  user: string,
  password: string,
  timeoutMs = 5000,
): Promise<number | undefined> {
  return registerStatus(client, { user, domain: DOMAIN, password }, timeoutMs);
}

/** Waits (at most 5 s) until the server holds `n` connections, whichever workers hold them. */
async function accepted(t: TestServer, n: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while (t.server.transport.connections().length < n && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(t.server.transport.connections().length, n);
}

async function udpAt(t: TestServer, address: string): Promise<TestSipClient> {
  return await TestSipClient.connect("udp", t.port("udp"), "127.0.0.1", address);
}

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\d+)$`, "m").exec(text);
  return m ? Number(m[1]) : NaN;
}

async function metrics(t: TestServer): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${t.config.httpPort}/metrics`, {
    headers: { authorization: `Bearer ${KEY}` },
  });
  return await r.text();
}

Deno.test("a password guesser is banned; good users elsewhere, behind a NAT and trusted still register", async () => {
  const control: { method: string; path: string; body: string }[] = [];
  const receiver = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    control.push({ method: req.method, path: new URL(req.url).pathname, body: await req.text() });
    return new Response(null, { status: 204 });
  });
  await using t = await startTestServer({
    transports: ["udp"],
    ...withApi((c) => c.abuse.trusted = ["127.0.0.5/32"]),
  });
  const clients: TestSipClient[] = [];
  const log = captureWarnings();
  const at = async (address: string) => {
    const c = await udpAt(t, address);
    clients.push(c);
    return c;
  };
  try {
    await t.server.store.putDomain(
      { domain: DOMAIN, control: `http://127.0.0.1:${receiver.addr.port}` },
      ACCOUNTS,
    );
    // A fresh address with no good users: ban_after (10) wrong passwords, then silence.
    const guesser = await at("127.0.0.2");
    for (let i = 0; i < 10; i++) assert.equal(await attempt(guesser, "alice", `guess${i}`), 403);
    const dropped = (user: string, password: string) =>
      attempt(guesser, user, password, SILENCE_MS);
    assert.equal(await dropped("alice", "guess-after-ban"), undefined, "banned: dropped");
    assert.equal(await dropped("bob", "bob-secret"), undefined, "even a right password");
    assert.equal(lines(log.records, /^banned 127\.0\.0\.2 /), 1, "one log line per ban");
    // A good user at another address is not affected.
    assert.equal(await attempt(await at("127.0.0.3"), "bob", "bob-secret"), 200);

    // A NAT with a good user: bob registered from 127.0.0.4 before the guessing began.
    assert.equal(await attempt(await at("127.0.0.4"), "bob", "bob-secret"), 200);
    const natGuesser = await at("127.0.0.4");
    for (let i = 0; i < 12; i++) assert.equal(await attempt(natGuesser, "alice", `nat${i}`), 403);
    // Not banned: only alice is locked at that address, even with her right password...
    assert.equal(await attempt(natGuesser, "alice", "alice-secret"), 403);
    // ...while carol behind the same address registers, and alice from elsewhere too.
    assert.equal(await attempt(await at("127.0.0.4"), "carol", "carol-secret"), 200);
    assert.equal(await attempt(await at("127.0.0.6"), "alice", "alice-secret"), 200);

    // A trusted address is never banned: its good user registers after a guessing run.
    const trustedGuesser = await at("127.0.0.5");
    for (let i = 0; i < 12; i++) assert.equal(await attempt(trustedGuesser, "dave", `t${i}`), 403);
    assert.equal(await attempt(await at("127.0.0.5"), "carol", "carol-secret"), 200);

    const listed = await apiJson(t, KEY, "GET", "/bans");
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.json.bans.map((b: { address: string }) => b.address), ["127.0.0.2"]);
    const ban = listed.json.bans[0];
    assert.equal(ban.reason, "auth_failures");
    assert.equal(ban.failures, 10);
    assert.deepEqual(ban.accounts, [`alice@${DOMAIN}`]);
    assert.equal(ban.until - ban.since, 600_000, "ban_time default 10 min");
    const text = await metrics(t);
    assert.equal(metric(text, "sipws_bans_total"), 1);
    assert.equal(metric(text, "sipws_bans"), 1);

    // The domain's control server hears of the ban (same queue and retries as /reg).
    const deadline = Date.now() + 5000;
    while (!control.some((r) => r.path.startsWith("/ban/")) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const put = control.find((r) => r.path.startsWith("/ban/"));
    assert.ok(put, `no ban callback: ${JSON.stringify(control)}`);
    assert.equal(put.method, "PUT");
    assert.equal(put.path, "/ban/127.0.0.2");
    assert.equal(JSON.parse(put.body).reason, "auth_failures");

    // The operator lifts the ban: the address is served again.
    assert.equal((await apiJson(t, KEY, "DELETE", "/bans/127.0.0.2")).status, 204);
    assert.equal((await apiJson(t, KEY, "DELETE", "/bans/127.0.0.2")).status, 404);
    const bad = await apiJson(t, KEY, "DELETE", "/bans/not-an-address");
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, "invalid_field");
    assert.deepEqual((await apiJson(t, KEY, "GET", "/bans")).json, { count: 0, bans: [] });
    assert.equal(await attempt(guesser, "bob", "bob-secret"), 200);
  } finally {
    log.restore();
    for (const c of clients) c.close();
    await receiver.shutdown();
  }
});

// The guesser's connection in the one thread, then in the worker thread of two: the failure
// that bans is seen by the thread reading it (the process's source table), not a hop later
// when the main thread has decided, so the outcome is the same. The worker count is set in
// the config, which SIPWS_TEST_WORKERS leaves alone.
for (const [workers, holder] of [[1, 0], [2, 1]]) {
  Deno.test(`a banned peer's TCP and WS connections are closed and new connections are refused (workers ${workers}, guesser in thread ${holder})`, async () => {
    await using t = await startTestServer({
      transports: ["tcp", "ws"],
      accounts: ACCOUNTS,
      ...withApi((c) => {
        c.abuse.banAfter = 3;
        c.workers = workers;
      }),
    });
    const guesser = await connectedIn(t, "tcp", holder);
    const wsPeer = await TestSipClient.connect("ws", t.port("ws"));
    for (let i = 0; i < 2; i++) assert.equal(await attempt(guesser, "alice", `g${i}`), 403);
    // The third failure bans 127.0.0.1: the connection is closed without the 403.
    assert.equal(await attempt(guesser, "alice", "g2", SILENCE_MS), undefined);
    await guesser.closed;
    const wsClosed = await Promise.race([
      wsPeer.closed.then(() => "closed"),
      new Promise((r) => setTimeout(() => r("open"), 3000)),
    ]);
    assert.equal(wsClosed, "closed", "the address's WebSocket goes with the ban");
    await assert.rejects(TestSipClient.connect("ws", t.port("ws")), "new WS refused");
    const again = await TestSipClient.connect("tcp", t.port("tcp"));
    const closedAt = await Promise.race([
      again.closed.then(() => "closed"),
      new Promise((r) => setTimeout(() => r("open"), 3000)),
    ]);
    assert.equal(closedAt, "closed", "a new connection from a banned address is closed at once");
    again.close();
    const text = await metrics(t);
    assert.ok(text.includes('sipws_connections_refused_total{reason="banned"'));
    assert.equal(metric(text, "sipws_bans_total"), 1, "one ban, counted once");

    // The dashboard's Bans pane, in-process and over the API; `u` lifts through the API.
    const local = await new LocalSource(t.server).snapshot();
    assert.deepEqual(local.bans.map((b) => b.address), ["127.0.0.1"]);
    // Main's ban, with main's count of the address's failures, whichever thread read them.
    const [ban] = local.bans;
    assert.deepEqual([ban.reason, ban.failures, ban.accounts], [
      "auth_failures",
      3,
      [`alice@${DOMAIN}`],
    ]);
    const remote = new RemoteSource(`http://127.0.0.1:${t.config.httpPort}`, KEY);
    const shown = await remote.snapshot();
    assert.deepEqual(banTable(shown.bans, Date.now()).rows.map((r) => r.cells[0]), ["127.0.0.1"]);
    assert.match(
      headerLines(shown, { messagesIn: 0, messagesOut: 0 }, "x", Date.now())[1],
      /bans 1 /,
    );
    await remote.liftBan("127.0.0.1");
    const served = await TestSipClient.connect("tcp", t.port("tcp"));
    assert.equal(
      await attempt(served, "alice", "alice-secret"),
      200,
      "lifted from the dashboard",
    );
    served.close();
  });
}

Deno.test("a flood above the per-source rate gets 503 with Retry-After; others are served", async () => {
  await using t = await startTestServer({ transports: ["udp"], ...withApi() });
  const flooder = await udpAt(t, "127.0.0.7");
  const other = await udpAt(t, "127.0.0.8");
  const log = captureWarnings();
  try {
    const statuses: (number | undefined)[] = [];
    const ids = Array.from({ length: 150 }, (_, i) => `flood-${i}-${crypto.randomUUID()}`);
    const started = performance.now();
    for (const id of ids) await flooder.send(optionsRequest(flooder, id));
    const sendMs = performance.now() - started;
    // Others are served during the flood.
    await other.send(optionsRequest(other, "other-1"));
    assert.equal((await other.response("other-1", 1)).status, 200);
    const replies: SipResponse[] = [];
    const deadline = Date.now() + 1500;
    for (const id of ids) {
      try {
        replies.push(await flooder.response(id, 1, Math.max(1, deadline - Date.now())));
      } catch {
        statuses.push(undefined);
      }
    }
    for (const r of replies) statuses.push(r.status);
    const ok = statuses.filter((s) => s === 200).length;
    const refused = replies.filter((r) => r.status === 503);
    // 150 sent within a second (or two on a slow machine): at most 50 a second pass.
    const windows = Math.ceil(sendMs / 1000) + 1;
    assert.ok(ok <= 50 * windows, `${ok} answered 200 (send took ${Math.round(sendMs)} ms)`);
    assert.ok(refused.length > 0, `no 503 among ${JSON.stringify(statuses)}`);
    for (const r of refused) assert.match(r.get("retry-after") ?? "", /^[1-9]\d*$/);
    assert.ok(metric(await metrics(t), "sipws_rate_limited_total") >= refused.length);
    assert.equal(
      lines(log.records, /^rate limit: 127\.0\.0\.7 /),
      1,
      "one line, not one per message",
    );
  } finally {
    log.restore();
    flooder.close();
    other.close();
  }
});

Deno.test("connection caps: the 101st connection from one address and the one past max_connections are refused", async () => {
  await using t = await startTestServer({ transports: ["tcp", "ws"], ...withApi() });
  const conns: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 100; i++) conns.push(await Deno.connect({ port: t.port("tcp") }));
    // Connected is not yet accepted (with several workers, not in order): wait for the 100.
    await accepted(t, 100);
    const last = await TestSipClient.connect("tcp", t.port("tcp"));
    const closed = await Promise.race([
      last.closed.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 3000)),
    ]);
    assert.equal(closed, true, "the 101st connection from 127.0.0.1 is closed at once");
    // The same source is refused on WS too; the open connections still work.
    await assert.rejects(TestSipClient.connect("ws", t.port("ws")));
    conns.pop()!.close();
    // Freed once the server (whichever worker held it) has seen it close.
    await until(
      "the closed connection let go",
      () => t.server.transport.connections().length === 99 || undefined,
    );
    const again = await TestSipClient.connect("tcp", t.port("tcp"));
    assert.equal(await attempt(again, "nobody", "x"), 403, "one freed, one served");
    again.close();
    assert.match(await metrics(t), /sipws_connections_refused_total\{reason="source_cap"/);
  } finally {
    for (const c of conns) c.close();
  }

  await using small = await startTestServer({
    transports: ["tcp"],
    ...withApi((c) => c.abuse.maxConnections = 5),
  });
  const few: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 5; i++) few.push(await Deno.connect({ port: small.port("tcp") }));
    await accepted(small, 5);
    const sixth = await TestSipClient.connect("tcp", small.port("tcp"));
    const closed = await Promise.race([
      sixth.closed.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 3000)),
    ]);
    assert.equal(closed, true, "the connection past max_connections is closed at once");
  } finally {
    for (const c of few) c.close();
  }
});
