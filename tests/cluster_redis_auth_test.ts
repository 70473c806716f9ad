/**
 * The cluster's Redis URL carries its password (`redis://:password@host:port/db`): a node
 * connects with it to a `redis-server --requirepass`, is refused with a wrong one, and no
 * error or log line repeats the password.
 */
import assert from "node:assert/strict";
import { RedisAccountStore } from "../src/store/redis_account_store.ts";
import { redactRedisUrl } from "../src/store/redis_client.ts";
import { TestRedis } from "./support/redis.ts";

Deno.test({
  name: "cluster Redis with a password: right one connects, wrong one is refused, never echoed",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using redis = await TestRedis.start(["--requirepass", "s3cret-pw"]);
    const url = (pw: string) => `redis://:${pw}@127.0.0.1:${redis.port}/0`;
    const store = await RedisAccountStore.open(url("s3cret-pw"), {});
    try {
      await store.putAccount({ domain: "example.test", user: "alice", password: "a" });
      assert.ok(store.getAccount("example.test", "alice"));
    } finally {
      store.close();
    }
    const refused = await RedisAccountStore.open(url("wrong-pw"), {}).then(
      (s) => {
        s.close();
        return undefined;
      },
      (e: Error) => e,
    );
    assert.ok(refused, "a wrong password is refused");
    assert.doesNotMatch(refused.message, /wrong-pw/);
    assert.match(refused.message, /cannot reach Redis redis:\/\/\*\*\*@127\.0\.0\.1/);
    assert.equal(redactRedisUrl("rediss://:pw@h:6380/1"), "rediss://***@h:6380/1");
  },
});
