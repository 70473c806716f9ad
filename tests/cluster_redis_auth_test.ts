/**
 * The cluster's Redis URL carries its password (`redis://:password@host:port/db`): a node
 * connects with it to a `redis-server --requirepass`, is refused with a wrong one, and no
 * error or log line repeats the password. Over TLS (`rediss://`) the server's certificate
 * is checked against `[cluster] redis_ca_file`.
 */
import assert from "node:assert/strict";
import { RedisAccountStore } from "../src/store/redis_account_store.ts";
import { redactRedisUrl } from "../src/store/redis_client.ts";
import { redisOptions } from "../src/store/open_store.ts";
import { makeSelfSignedCert } from "./support/certs.ts";
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

Deno.test({
  name:
    "cluster Redis over TLS (rediss://): verified against [cluster] redis_ca_file, refused without",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "sipws-redis-tls-" });
    try {
      const pair = await makeSelfSignedCert(dir);
      await using redis = await TestRedis.startTls({ cert: pair.certFile, key: pair.keyFile });
      assert.match(redis.url, /^rediss:/);
      const ca = await redisOptions({ redisCaFile: pair.certFile });
      const store = await RedisAccountStore.open(redis.url, {}, ca);
      try {
        await store.putAccount({ domain: "example.test", user: "alice", password: "a" });
        assert.equal(store.version(), 1);
      } finally {
        store.close();
      }
      // The server's certificate is signed by no CA the system trusts.
      await assert.rejects(() => RedisAccountStore.open(redis.url, {}), /cannot reach Redis/);
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
