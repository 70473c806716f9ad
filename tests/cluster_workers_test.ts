/**
 * Two cluster nodes with two SIP workers each (in-process servers on 127.0.0.2 and .3
 * sharing a real `redis-server`): a phone registered through node 1's second worker (over a
 * TCP connection that worker holds) is reached by a MESSAGE arriving at node 2's second
 * worker (its copy of the other node's bindings relays to node 1, whose worker holding the
 * connection sends on it), and the phone's MESSAGE, handled by that worker, reaches a UDP
 * phone registered through node 2's main thread.
 */
import assert from "node:assert/strict";
import { TestRedis } from "./support/redis.ts";
import { register, TestSipClient } from "./support/sip_client.ts";
import { registeredIn } from "./support/placed_client.ts";
import { callIdFor, receiveMessage, sendMessage } from "./support/sip_call.ts";
import { until } from "./support/jssip_page.ts";
import { startTestServer, type TestServer } from "./support/test_server.ts";

const DOMAIN = "example.test";
const ALICE = { user: "alice", domain: DOMAIN, password: "alice-pw" };
const BOB = { user: "bob", domain: DOMAIN, password: "bob-pw" };

function node(n: number, redisUrl: string): Promise<TestServer> {
  return startTestServer({
    transports: ["udp", "tcp"],
    accounts: n === 1 ? [ALICE, BOB] : [],
    configure: (c) => {
      c.interface = `127.0.0.${n + 1}`;
      c.cluster.redis = redisUrl;
      c.cluster.nodeId = `n${n}`;
      c.workers = 2;
    },
  });
}

Deno.test({
  name: "cluster with 2 workers per node: MESSAGE both ways between phones on two nodes",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using redis = await TestRedis.start();
    await using n1 = await node(1, redis.url);
    await using n2 = await node(2, redis.url);
    await until("node 2 has the accounts", () => n2.server.store.getAccount(DOMAIN, "bob"), 2000);
    const bob = await registeredIn(n1, "tcp", 1, { ...BOB, expires: 600 });
    const alice = await TestSipClient.connect("udp", n2.port("udp"), "127.0.0.3");
    try {
      // A UDP REGISTER is handled by the main thread that read it (2 workers).
      const ok = await register(alice, { ...ALICE, expires: 600 });
      assert.equal(ok.status, 200);
      for (const [server, aor] of [[n2, "bob"], [n1, "alice"]] as const) {
        await until(
          `the other node sees ${aor}`,
          () => server.server.registrations.lookup(`${aor}@${DOMAIN}`)[0],
          2000,
        );
      }
      // Handled by the second worker of the node it arrives at (Bob's MESSAGE over his
      // connection there too), relayed to the other node.
      const ways = [[alice, ALICE, bob, "bob"], [bob, BOB, alice, "alice"]] as const;
      for (const [from, who, to, user] of ways) {
        const got = receiveMessage(to);
        const text = `hello ${user}`;
        const sent = await sendMessage(from, who, `sip:${user}@${DOMAIN}`, text, callIdFor(1, "m"));
        assert.equal(sent.status, 200);
        assert.equal(await got, text);
      }
    } finally {
      bob.close();
      alice.close();
    }
  },
});
