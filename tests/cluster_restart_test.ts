/**
 * A cluster node restarted under the same node id (in-process servers on 127.0.0.2 sharing
 * a real `redis-server`): what Redis kept of its previous run is taken over once it serves.
 * A UDP phone's binding stays, owned by the node again; WebSocket bindings, whose
 * connections died with the previous run, are removed with exactly one DELETE callback. And
 * when a survivor (node 2) takes over instead, the UDP binding's flow is re-owned by it, so
 * node 1 started again later leaves it there.
 */
import assert from "node:assert/strict";
import { freePort } from "./support/ports.ts";
import { TestRedis } from "./support/redis.ts";
import { register, TestSipClient } from "./support/sip_client.ts";
import { startTestServer, type TestServer } from "./support/test_server.ts";
import { until } from "./support/jssip_page.ts";

const DOMAIN = "example.test";
const ALICE = { user: "alice", domain: DOMAIN, password: "alice-pw" };
const BOB = { user: "bob", domain: DOMAIN, password: "bob-pw" };

function node(redisUrl: string, n = 1): Promise<TestServer> {
  return startTestServer({
    transports: ["udp", "ws"],
    configure: (c) => {
      c.interface = `127.0.0.${n + 1}`;
      c.cluster.redis = redisUrl;
      c.cluster.nodeId = `n${n}`;
      c.cluster.heartbeatTtl = 3;
    },
  });
}

interface Scenario {
  redis: TestRedis;
  /** Paths of the DELETE callbacks received. */
  removed: string[];
  /** Node 1, serving the domain: alice registered over WS, bob's phone over UDP. */
  first: TestServer;
}

/** One Redis, a control server, node 1 with alice (WS) and bob (UDP) registered; `fn` goes on. */
async function withNode1(fn: (s: Scenario) => Promise<void>): Promise<void> {
  await using redis = await TestRedis.start();
  const removed: string[] = [];
  const port = freePort("tcp");
  const control = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, (req) => {
    if (req.method === "DELETE") removed.push(new URL(req.url).pathname);
    return new Response(null, { status: 204 });
  });
  await using first = await node(redis.url);
  const clients: TestSipClient[] = [];
  try {
    const { store } = first.server;
    await store.putDomain({ domain: DOMAIN, control: `http://127.0.0.1:${port}` });
    for (const a of [ALICE, BOB]) await store.putAccount(a);
    // Alice on four WebSockets, so the kernel hands some to each worker: the stop must keep
    // them wherever they live.
    for (let i = 0; i < 4; i++) {
      const browser = await TestSipClient.connect("ws", first.port("ws"), "127.0.0.2");
      clients.push(browser);
      assert.equal((await register(browser, { ...ALICE, expires: 600 })).status, 200);
    }
    const phone = await TestSipClient.connect("udp", first.port("udp"), "127.0.0.2");
    clients.push(phone);
    assert.equal((await register(phone, { ...BOB, expires: 600 })).status, 200);
    await fn({ redis, removed, first });
  } finally {
    for (const c of clients) c.close();
    await control.shutdown();
  }
}

Deno.test({
  name: "cluster: a node restarted under the same id keeps UDP bindings, drops WS ones once",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withNode1(async ({ redis, removed, first }) => {
      await until("both bindings in Redis", async () => {
        const keys = await redis.cli("--scan", "--pattern", "sipws:reg:*");
        return keys.includes("alice@") && keys.includes("bob@") ? true : undefined;
      }, 2000);
      // Stopped (as after a crash, its bindings stay in Redis), then started as n1 again.
      await first.stop();
      assert.deepEqual(removed, [], "a stopping node leaves its bindings to its next run");

      await using second = await node(redis.url);
      await until("alice's DELETE callback", () => removed.length > 0 || undefined, 5000);
      const aors = () => second.server.registrations.all().map((b) => b.aor);
      assert.deepEqual(aors(), [`bob@${DOMAIN}`]);
      const bob = second.server.registrations.lookup(`bob@${DOMAIN}`)[0];
      assert.equal(bob.flow.owner?.node, "n1", "the UDP binding is the node's own again");
      assert.equal(second.server.cluster?.owns(bob), true);
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(removed, [`/reg/${DOMAIN}/alice`], "one DELETE callback");
      const stored = await redis.cli("--scan", "--pattern", "sipws:reg:*");
      assert.doesNotMatch(stored, /alice@/, "the WS binding left Redis too");
    }),
});

Deno.test({
  name: "cluster: a survivor takes a stopped node's UDP binding as its own, drops its WS one once",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withNode1(async ({ redis, removed, first }) => {
      await using second = await node(redis.url, 2);
      const owner = () => second.server.registrations.lookup(`bob@${DOMAIN}`)[0]?.flow.owner;
      await until("node 2 sees bob's binding on node 1", () => owner()?.node === "n1" || undefined);
      await first.stop();
      await until("node 2 owns bob's binding", () => owner()?.node === "n2" || undefined, 5000);
      assert.equal(second.server.location.lookup(`bob@${DOMAIN}`).length, 1, "in its own table");
      await until("alice's DELETE callback", () => removed.length > 0 || undefined, 5000);
      assert.deepEqual(second.server.registrations.all().map((b) => b.aor), [`bob@${DOMAIN}`]);
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(removed, [`/reg/${DOMAIN}/alice`], "one DELETE callback");
      // Redis says node 2 owns it now: node 1 started again does not take it back.
      await using again = await node(redis.url);
      await until("node 1 sees bob's binding on node 2", () => {
        const b = again.server.registrations.lookup(`bob@${DOMAIN}`)[0];
        return b?.flow.owner?.node === "n2" || undefined;
      }, 2000);
      assert.equal(again.server.location.lookup(`bob@${DOMAIN}`).length, 0);
    }),
});
