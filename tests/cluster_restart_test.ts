/**
 * A cluster node restarted under the same node id (in-process servers on 127.0.0.2 sharing
 * a real `redis-server`): what Redis kept of its previous run is taken over once it serves.
 * A UDP phone's binding stays, owned by the node again; a WebSocket binding, whose
 * connection died with the previous run, is removed with exactly one DELETE callback.
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

function node(redisUrl: string): Promise<TestServer> {
  return startTestServer({
    transports: ["udp", "ws"],
    configure: (c) => {
      c.interface = "127.0.0.2";
      c.cluster.redis = redisUrl;
      c.cluster.nodeId = "n1";
    },
  });
}

Deno.test({
  name: "cluster: a node restarted under the same id keeps UDP bindings, drops WS ones once",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using redis = await TestRedis.start();
    const removed: string[] = [];
    const controlPort = freePort("tcp");
    await using control = Deno.serve(
      { hostname: "127.0.0.1", port: controlPort, onListen: () => {} },
      (req) => {
        if (req.method === "DELETE") removed.push(new URL(req.url).pathname);
        return new Response(null, { status: 204 });
      },
    );
    await using first = await node(redis.url);
    const { store } = first.server;
    await store.putDomain({ domain: DOMAIN, control: `http://127.0.0.1:${controlPort}` });
    for (const a of [ALICE, BOB]) await store.putAccount(a);
    const browser = await TestSipClient.connect("ws", first.port("ws"), "127.0.0.2");
    const phone = await TestSipClient.connect("udp", first.port("udp"), "127.0.0.2");
    try {
      assert.equal((await register(browser, { ...ALICE, expires: 600 })).status, 200);
      assert.equal((await register(phone, { ...BOB, expires: 600 })).status, 200);
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
    } finally {
      browser.close();
      phone.close();
    }
  },
});
