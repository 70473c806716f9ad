/**
 * @module Bans hold on every SIP worker: with `workers = 3` (a main thread that hands every
 * datagram on; with 2 it handles every UDP REGISTER itself) a guesser whose REGISTERs
 * alternate between the two worker threads (by their Call-IDs) is banned after exactly
 * `ban_after` failures in all (the main thread counts every worker's), the ban holds in
 * both workers, the API lists it, and an operator's DELETE lifts it in both. An account
 * lock at a known-good address holds in both workers too. Counted once. An address's
 * connection cap and request rate hold for the process, not per worker: its TCP
 * connections, which the kernel spreads over both workers, are counted in one table.
 */
import assert from "node:assert/strict";
import { optionsRequest, registerStatus, TestSipClient } from "./support/sip_client.ts";
import { apiJson, countersOf, startTestServer, type TestServer } from "./support/test_server.ts";
import { callIdFor as sharedCallIdFor } from "./support/sip_call.ts";
import { until } from "./support/poll.ts";

const DOMAIN = "example.test";
const KEY = "k";
const GUESSER = "127.0.0.41";
const NAT = "127.0.0.42";

/** A Call-ID that worker thread `worker` (1 or 2) of three owns. */
const callIdFor = (worker: number) => sharedCallIdFor(worker, "abuse", 3);

/** How long a banned source's silence is awaited (an answer comes well within it). */
const SILENCE_MS = 1000;

/**
 * One REGISTER dance on a Call-ID of `worker`; undefined when the server stays silent for
 * `timeoutMs` (a ban drops). Expected answers are awaited generously: the box may be loaded.
 */
function attempt(
  client: TestSipClient,
  worker: number,
  password: string,
  user = "alice",
  timeoutMs = 5000,
): Promise<number | undefined> {
  const o = { user, domain: DOMAIN, password, callId: callIdFor(worker) };
  return registerStatus(client, o, timeoutMs);
}

Deno.test("workers: failures counted across workers; a ban and an account lock hold in every worker; the API lifts it everywhere", async () => {
  await using t = await startTestServer({
    transports: ["udp"],
    accounts: [
      { user: "alice", domain: DOMAIN, password: "alice-pw" },
      { user: "bob", domain: DOMAIN, password: "bob-pw" },
    ],
    apiKey: KEY,
    configure: (c) => {
      c.workers = 3;
      c.ping.interval = 0;
    },
  });
  const guesser = await TestSipClient.connect("udp", t.port("udp"), "127.0.0.1", GUESSER);
  try {
    // Guesses alternate between the worker threads; the main thread counts them all.
    for (let i = 0; i < 10; i++) assert.equal(await attempt(guesser, 1 + i % 2, `guess${i}`), 403);
    // Once synced, main has counted every worker's failures and sent the ban to each worker
    // ahead of any datagram it hands over later (one ordered channel per worker).
    await t.server.settle();
    assert.equal(
      await attempt(guesser, 1, "alice-pw", "alice", SILENCE_MS),
      undefined,
      "banned in worker 1",
    );
    assert.equal(
      await attempt(guesser, 2, "alice-pw", "alice", SILENCE_MS),
      undefined,
      "and in worker 2",
    );
    const listed = await apiJson(t, KEY, "GET", "/bans");
    assert.deepEqual(listed.json.bans.map((b: { address: string }) => b.address), [GUESSER]);
    assert.equal((await countersOf(t)).total("bans_total"), 1, "one ban, counted once");

    // Answered once every worker has lifted it.
    assert.equal((await apiJson(t, KEY, "DELETE", `/bans/${GUESSER}`)).status, 204);
    assert.equal(await attempt(guesser, 1, "alice-pw"), 200, "lifted in worker 1 too");
    assert.equal(await attempt(guesser, 2, "alice-pw"), 200, "and in worker 2");

    // Behind a known-good address one bad user locks only their account, in both workers.
    const nat = await TestSipClient.connect("udp", t.port("udp"), "127.0.0.1", NAT);
    try {
      assert.equal(await attempt(nat, 1, "bob-pw", "bob"), 200);
      for (let i = 0; i < 10; i++) assert.equal(await attempt(nat, 1 + i % 2, `nat${i}`), 403);
      await t.server.settle(); // the lock, decided on main, reaches each worker before what follows
      assert.equal(await attempt(nat, 2, "alice-pw"), 403, "alice locked at the NAT (worker 2)");
      assert.equal(await attempt(nat, 1, "alice-pw"), 403, "and in worker 1");
      assert.equal(await attempt(nat, 1, "bob-pw", "bob"), 200, "bob behind it is served");
      assert.deepEqual(
        (await apiJson(t, KEY, "GET", "/bans")).json.bans,
        [],
        "the NAT is not banned",
      );
    } finally {
      nat.close();
    }
  } finally {
    guesser.close();
  }
});

/** An OPTIONS on `client`; its final status, or undefined when none came (refused, dropped). */
async function ping(client: TestSipClient, timeoutMs: number): Promise<number | undefined> {
  return await (await sendOptions(client))(timeoutMs);
}

/** Sends an OPTIONS; the function returned waits for its final status. */
async function sendOptions(
  client: TestSipClient,
): Promise<(timeoutMs: number) => Promise<number | undefined>> {
  const callId = `ping-${crypto.randomUUID()}`;
  try {
    await client.send(optionsRequest(client, callId));
  } catch {
    return () => Promise.resolve(undefined);
  }
  return (timeoutMs) =>
    client.response(callId, 1, timeoutMs).then((r) => r.status, () => undefined);
}

async function twoWorkers(configure: (c: TestServer["config"]) => void) {
  return await startTestServer({
    transports: ["tcp"],
    configure: (c) => {
      c.workers = 2;
      c.ping.interval = 0;
      configure(c);
    },
  });
}

// With limits per worker, 12 connections spread over two workers would leave up to 8 open
// (4 in each); all 12 landing in one worker, the only way this passes then, is 1 in 2,048.
Deno.test("workers: max_connections_per_source holds for the process, whichever worker accepts", async () => {
  await using t = await twoWorkers((c) => c.abuse.maxConnectionsPerSource = 4);
  const clients: TestSipClient[] = [];
  try {
    for (let i = 0; i < 12; i++) {
      const client = await TestSipClient.connect("tcp", t.port("tcp"));
      clients.push(client);
      await ping(client, 500);
    }
    const statuses = await Promise.all(clients.map((c) => ping(c, 5000)));
    assert.equal(statuses.filter((s) => s === 200).length, 4, JSON.stringify(statuses));
    // One closes: the process counts 3, so one more is accepted (by either worker).
    clients[statuses.indexOf(200)].close();
    await until(
      "the closed connection let go",
      () => t.server.transport.connections().length === 3 || undefined,
    );
    const again = await TestSipClient.connect("tcp", t.port("tcp"));
    clients.push(again);
    assert.equal(await ping(again, 5000), 200);
  } finally {
    for (const c of clients) c.close();
  }
});

// Eight connections send 5 requests each in one burst: within the per-connection limit (10),
// 40 from the address. Counted per worker, up to 20 would pass (10 in each worker).
Deno.test("workers: rate_limit per source holds for the process: a burst over connections in both workers", async () => {
  await using t = await twoWorkers((c) => c.abuse.rateLimit = 10);
  const clients: TestSipClient[] = [];
  try {
    for (let i = 0; i < 8; i++) clients.push(await TestSipClient.connect("tcp", t.port("tcp")));
    await new Promise((r) => setTimeout(r, 1100)); // a fresh window for the burst
    const started = performance.now();
    const sent = await Promise.all(
      clients.flatMap((c) => Array.from({ length: 5 }, () => sendOptions(c))),
    );
    const sendMs = performance.now() - started;
    const statuses = await Promise.all(sent.map((answer) => answer(1500)));
    const ok = statuses.filter((s) => s === 200).length;
    const windows = Math.ceil(sendMs / 1000); // 1 unless the machine stalled the burst
    assert.ok(ok <= 10 * windows, `${ok} of 40 answered 200 in ${Math.round(sendMs)} ms`);
    assert.ok(statuses.includes(503), JSON.stringify(statuses));
  } finally {
    for (const c of clients) c.close();
  }
});
