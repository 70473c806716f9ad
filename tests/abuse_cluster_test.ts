/**
 * @module Bans hold on every node of a cluster ("bans and limits hold on every
 * worker"): two in-process nodes share a real `redis-server`. A guesser banned on node A
 * is dropped by node B too and listed by B's `GET /bans`; an operator's
 * `DELETE /bans/{address}` on B lifts it on A; a node that joins later loads the bans in
 * force. Failure counts stay per node (documented in README).
 */
import assert from "node:assert/strict";
import type { Config } from "../src/config/config.ts";
import { TestRedis } from "./support/redis.ts";
import { registerStatus, TestSipClient } from "./support/sip_client.ts";
import { apiJson, startTestServer, type TestServer } from "./support/test_server.ts";
import { until } from "./support/poll.ts";

const DOMAIN = "example.test";
const KEY = "k";
const ACCOUNTS = [{ user: "alice", domain: DOMAIN, password: "alice-pw" }];
const GUESSER = "127.0.0.21";

/**
 * One REGISTER dance; undefined when the server stays silent for `timeoutMs`. Expected
 * answers are awaited generously (a loaded machine); a ban's silence for 1 s.
 */
function attempt(
  client: TestSipClient,
  password: string,
  timeoutMs = 5000,
): Promise<number | undefined> {
  return registerStatus(client, { user: "alice", domain: DOMAIN, password }, timeoutMs);
}

function node(redis: TestRedis, id: string): Promise<TestServer> {
  return startTestServer({
    transports: ["udp"],
    accounts: ACCOUNTS,
    apiKey: KEY,
    configure: (c: Config) => {
      c.ping.interval = 0;
      c.cluster.redis = redis.url;
      c.cluster.nodeId = id;
    },
  });
}

async function bans(t: TestServer): Promise<string[]> {
  const listed = (await apiJson(t, KEY, "GET", "/bans")).json;
  return listed.bans.map((b: { address: string }) => b.address);
}

/** Polls `check` for 10 s (Redis and another node in between, on a loaded machine). */
function eventually(what: string, check: () => Promise<boolean>): Promise<boolean> {
  return until(what, async () => (await check()) || undefined, 10_000);
}

Deno.test("a ban decided on one node holds on the others, and so does its lifting", async () => {
  await using redis = await TestRedis.start();
  await using a = await node(redis, "a");
  await using b = await node(redis, "b");
  const toA = await TestSipClient.connect("udp", a.port("udp"), "127.0.0.1", GUESSER);
  const toB = await TestSipClient.connect("udp", b.port("udp"), "127.0.0.1", GUESSER);
  try {
    assert.equal(await attempt(toB, "alice-pw"), 200, "B serves the address before the ban");
    for (let i = 0; i < 10; i++) assert.equal(await attempt(toA, `guess${i}`), 403);
    assert.deepEqual(await bans(a), [GUESSER]);
    await eventually("B lists A's ban", async () => (await bans(b)).includes(GUESSER));
    assert.equal(await attempt(toB, "alice-pw", 1000), undefined, "B drops the banned address");
    assert.equal(b.server.counters.total("bans_total"), 0, "counted once, on the node that banned");

    // A node joining now loads the ban in force.
    await using c = await node(redis, "c");
    assert.deepEqual(await bans(c), [GUESSER]);

    // Lifted on B by an operator: lifted on A and C as well.
    const lifted = await apiJson(b, KEY, "DELETE", `/bans/${GUESSER}`);
    assert.equal(lifted.status, 204);
    await eventually("A lifts it", async () => (await bans(a)).length === 0);
    await eventually("C lifts it", async () => (await bans(c)).length === 0);
    assert.equal(await attempt(toA, "alice-pw"), 200, "A serves the address again");
  } finally {
    toA.close();
    toB.close();
  }
});
