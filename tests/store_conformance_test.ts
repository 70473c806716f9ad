/**
 * @module One conformance suite for the `AccountStore` contract, run against every
 * implementation (embedded sqlite, seed JSON database file) on real files in a temp dir,
 * and the cluster's Redis store on a real `redis-server` (one database per "file").
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { Account, AccountInput, AccountStore } from "../src/store/account.ts";
import { StoreError } from "../src/store/account.ts";
import { JsonFileStore } from "../src/store/json_file_store.ts";
import { SqliteStore } from "../src/store/sqlite_store.ts";
import { RedisAccountStore } from "../src/store/redis_account_store.ts";
import { TestRedis } from "./support/redis.ts";

interface Implementation {
  name: string;
  file: string;
  open(path: string, plain?: boolean): Promise<AccountStore>;
  /** Everything the store holds at `path`, as stored (file bytes, Redis hash values). */
  stored(path: string): Promise<string>;
}

const fileText = async (path: string) =>
  new TextDecoder("latin1").decode(await Deno.readFile(path));

const implementations: Implementation[] = [
  {
    name: "sqlite",
    file: "accounts.db",
    open: (path, plain) => Promise.resolve(SqliteStore.open(path, { storePlainPasswords: plain })),
    stored: fileText,
  },
  {
    name: "json",
    file: "accounts.json",
    open: (path, plain) => JsonFileStore.open(path, { storePlainPasswords: plain }),
    stored: fileText,
  },
  {
    name: "redis",
    file: "redis",
    open: async (path, plain) => {
      redis ??= await TestRedis.start(["--databases", "64"]);
      let db = redisDbs.get(path);
      if (db === undefined) redisDbs.set(path, db = redisDbs.size);
      return await RedisAccountStore.open(redis.urlOf(db), { storePlainPasswords: plain });
    },
    stored: (path) => redis!.cli("-n", String(redisDbs.get(path)), "hgetall", "sipws:accounts"),
  },
];

/** One redis-server for the whole file, started on first use; each temp "file" is a database. */
let redis: TestRedis | undefined;
const redisDbs = new Map<string, number>();
globalThis.addEventListener("unload", () => redis?.kill());

/** Independent of src/: H(user:realm:password) as RFC 7616 defines it. */
function ha1(algorithm: "md5" | "sha256", user: string, realm: string, password: string) {
  return createHash(algorithm).update(`${user}:${realm}:${password}`).digest("hex");
}

const alice: AccountInput = {
  domain: "example.com",
  user: "alice",
  password: "secret",
  cn: "Alice",
  description: "first",
  image: "http://img.example/100.png",
  id: "100",
  avail: "0",
  origin: "registry",
  port: 5060,
  expire: 3600,
};

function user(name: string, domain = "example.com", password = `pw-${name}`): AccountInput {
  return { domain, user: name, password };
}

async function withStore(
  impl: Implementation,
  fn: (store: AccountStore, path: string) => Promise<void>,
  plain = false,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "sipws_store_" });
  const path = `${dir}/${impl.file}`;
  const store = await impl.open(path, plain);
  try {
    await fn(store, path);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

for (const impl of implementations) {
  const t = (name: string, fn: (store: AccountStore, path: string) => Promise<void>) =>
    Deno.test(`store conformance [${impl.name}]: ${name}`, () => withStore(impl, fn));

  t("a new store is empty at version 0", async (store) => {
    assert.equal(store.kind, impl.name);
    assert.equal(store.version(), 0);
    assert.deepEqual(store.listAccounts(), []);
    assert.deepEqual(store.listDomains(), []);
    assert.equal(store.getAccount("example.com", "alice"), undefined);
    await store.reload();
    assert.equal(store.version(), 0);
  });

  t("put then get keeps every seed field and HA1s, not the password", async (store) => {
    await store.putAccount(alice);
    const got: Account | undefined = store.getAccount("example.com", "alice");
    assert.equal(got?.password, undefined);
    const { password: _, ...sipwsFields } = alice;
    assert.deepEqual(got, {
      ...sipwsFields,
      ha1: {
        md5: ha1("md5", "alice", "example.com", "secret"),
        sha256: ha1("sha256", "alice", "example.com", "secret"),
      },
    });
    assert.equal(store.getAccount("EXAMPLE.com", "alice")?.user, "alice", "domain is caseless");
    assert.equal(store.getAccount("example.com", "Alice"), undefined, "user is case-sensitive");
  });

  t("put replaces the whole account, it does not merge", async (store) => {
    await store.putAccount(alice);
    await store.putAccount({ domain: "example.com", user: "alice", password: "new" });
    const got = store.getAccount("example.com", "alice");
    assert.equal(got?.cn, undefined);
    assert.equal(got?.port, undefined);
    assert.equal(got?.id, "alice", "id defaults to the user name, as in the seed");
    assert.equal(got?.ha1.md5, ha1("md5", "alice", "example.com", "new"));
    assert.equal(store.listAccounts().length, 1);
  });

  t("an HA1 pair is accepted instead of a password", async (store) => {
    const pair = {
      md5: ha1("md5", "bob", "example.com", "pw"),
      sha256: ha1("sha256", "bob", "example.com", "pw"),
    };
    await store.putAccount({ domain: "example.com", user: "bob", ha1: pair });
    assert.deepEqual(store.getAccount("example.com", "bob")?.ha1, pair);
  });

  t("bad input is a StoreError naming the field, and changes nothing", async (store) => {
    const cases: [AccountInput, string][] = [
      [{ domain: "example.com", user: "", password: "x" }, "user"],
      [{ domain: "", user: "a", password: "x" }, "domain"],
      [{ domain: "example.com", user: "a" }, "password"],
      [{ domain: "example.com", user: "a", password: "x", port: 70000 }, "port"],
      [{ domain: "example.com", user: "a", password: "x", expire: -1 }, "expire"],
      [{ domain: "example.com", user: "a b", password: "x" }, "user"],
      [{ domain: "example.com", user: "a", ha1: { md5: "zz", sha256: "" } }, "ha1.md5"],
      [
        { domain: "example.com", user: "a", ha1: { md5: "0".repeat(32), sha256: 7 as never } },
        "ha1.sha256",
      ],
    ];
    for (const [input, field] of cases) {
      await assert.rejects(store.putAccount(input), (e: unknown) => {
        assert.ok(e instanceof StoreError, String(e));
        assert.equal(e.field, field);
        return true;
      });
    }
    assert.equal(store.version(), 0);
    assert.deepEqual(store.listAccounts(), []);
  });

  t("delete reports whether the account existed; only a real change bumps", async (store) => {
    await store.putAccount(user("alice"));
    await store.putAccount(user("bob"));
    assert.equal(store.version(), 2);
    assert.equal(await store.deleteAccount("example.com", "alice"), true);
    assert.equal(store.version(), 3);
    assert.equal(store.getAccount("example.com", "alice"), undefined);
    assert.equal(await store.deleteAccount("example.com", "alice"), false);
    assert.equal(await store.deleteAccount("other.org", "bob"), false);
    assert.equal(store.version(), 3);
    assert.equal(store.getAccount("example.com", "bob")?.user, "bob");
  });

  t("list sorts by domain then user and filters by domain", async (store) => {
    await store.putAccount(user("zed", "b.org"));
    await store.putAccount(user("bob"));
    await store.putAccount(user("alice"));
    await store.putAccount(user("amy", "b.org"));
    const keys = store.listAccounts().map((a) => `${a.user}@${a.domain}`);
    assert.deepEqual(keys, ["amy@b.org", "zed@b.org", "alice@example.com", "bob@example.com"]);
    assert.deepEqual(store.listAccounts("B.org").map((a) => a.user), ["amy", "zed"]);
    assert.deepEqual(store.listAccounts("none.net"), []);
  });

  t("putAccount creates the domain entry; putDomain replaces entry and users", async (store) => {
    await store.putAccount(user("alice"));
    await store.putAccount(user("bob"));
    assert.deepEqual(store.listDomains(), [{ domain: "example.com" }]);

    await store.putDomain({ domain: "example.com", control: "http://127.0.0.1:9/ctl" });
    assert.deepEqual(store.getDomain("example.com"), {
      domain: "example.com",
      control: "http://127.0.0.1:9/ctl",
    });
    assert.equal(store.listAccounts("example.com").length, 2, "no users given: users kept");

    await store.putDomain({ domain: "example.com" }, [user("carol"), user("dave")]);
    assert.deepEqual(store.getDomain("example.com"), { domain: "example.com" }, "control gone");
    assert.deepEqual(store.listAccounts("example.com").map((a) => a.user), ["carol", "dave"]);

    await store.putDomain({ domain: "empty.org" }, []);
    assert.deepEqual(store.listDomains().map((d) => d.domain), ["empty.org", "example.com"]);

    await assert.rejects(
      store.putDomain({ domain: "example.com" }, [user("x", "other.org")]),
      (e: unknown) => e instanceof StoreError && e.field === "users[0].domain",
    );
    assert.deepEqual(store.listAccounts("example.com").map((a) => a.user), ["carol", "dave"]);
  });

  t("deleteDomain removes the entry and its accounts only", async (store) => {
    await store.putAccount(user("alice"));
    await store.putAccount(user("bob", "other.org"));
    const v = store.version();
    assert.equal(await store.deleteDomain("example.com"), true);
    assert.equal(store.version(), v + 1);
    assert.equal(store.getDomain("example.com"), undefined);
    assert.deepEqual(store.listAccounts().map((a) => a.user), ["bob"]);
    assert.equal(await store.deleteDomain("example.com"), false);
    assert.equal(store.version(), v + 1);
  });

  t("clear removes the accounts of one domain, or all", async (store) => {
    await store.putAccount(user("alice"));
    await store.putAccount(user("bob", "other.org"));
    await store.clear("example.com");
    assert.deepEqual(store.listAccounts().map((a) => a.user), ["bob"]);
    await store.clear();
    assert.deepEqual(store.listAccounts(), []);
    assert.equal(store.version(), 4);
  });

  t("applyChanges is one atomic change with one version bump", async (store) => {
    await store.putAccount(user("alice"));
    await store.applyChanges([
      { op: "put", account: user("bob") },
      { op: "delete", domain: "example.com", user: "alice" },
      { op: "put", account: user("carol") },
    ]);
    assert.equal(store.version(), 2);
    assert.deepEqual(store.listAccounts().map((a) => a.user), ["bob", "carol"]);

    await assert.rejects(
      store.applyChanges([
        { op: "put", account: user("dave") },
        { op: "put", account: { domain: "example.com", user: "" } },
      ]),
      (e: unknown) => e instanceof StoreError && e.field === "changes[1].account.user",
    );
    assert.equal(store.getAccount("example.com", "dave"), undefined, "all or nothing");
    assert.equal(store.version(), 2);
    await store.applyChanges([]);
    assert.equal(store.version(), 2, "an empty batch is no change");
  });

  t("every change bumps the version by one", async (store) => {
    const steps: (() => Promise<unknown>)[] = [
      () => store.putAccount(user("a")),
      () => store.putAccount(user("a")),
      () => store.putDomain({ domain: "example.com", control: "http://127.0.0.1:9" }),
      () => store.deleteAccount("example.com", "a"),
      () => store.clear(),
      () => store.deleteDomain("example.com"),
    ];
    for (const [i, step] of steps.entries()) {
      await step();
      assert.equal(store.version(), i + 1);
    }
  });

  t("everything survives close and open", async (store, path) => {
    await store.putAccount(alice);
    await store.putAccount(user("bob", "other.org"));
    await store.putDomain({ domain: "ctl.net", control: "http://127.0.0.1:9/x", secret: "k1" }, [
      user("carl", "ctl.net"),
    ]);
    await store.deleteAccount("other.org", "bob");
    assert.equal(store.getDomain("ctl.net")?.secret, "k1");
    const accounts = store.listAccounts();
    const domains = store.listDomains();
    const version = store.version();
    store.close();
    const again = await impl.open(path);
    try {
      assert.deepEqual(again.listAccounts(), accounts);
      assert.deepEqual(again.listDomains(), domains);
      assert.equal(again.version(), version);
      assert.equal(version, 4);
    } finally {
      again.close();
    }
  });

  t("reload sees changes another instance made to the same file", async (store, path) => {
    await store.putAccount(user("alice"));
    const other = await impl.open(path);
    try {
      assert.equal(other.getAccount("example.com", "alice")?.user, "alice");
      await other.putAccount(user("bob"));
      await other.deleteAccount("example.com", "alice");
      await other.putDomain({ domain: "example.com", control: "http://127.0.0.1:9/c" });
      await store.reload();
      assert.equal(store.getAccount("example.com", "alice"), undefined);
      assert.equal(store.getAccount("example.com", "bob")?.user, "bob");
      assert.equal(store.getDomain("example.com")?.control, "http://127.0.0.1:9/c");
      assert.equal(store.version(), other.version());
    } finally {
      other.close();
    }
  });

  t("a closed store refuses changes", async (store) => {
    store.close();
    await assert.rejects(store.putAccount(user("a")), StoreError);
    await assert.rejects(store.deleteAccount("example.com", "a"), StoreError);
  });

  Deno.test({
    name: `store conformance [${impl.name}]: plain passwords kept only on request`,
    fn: () =>
      withStore(impl, async (store, path) => {
        await store.putAccount(alice);
        assert.equal(store.getAccount("example.com", "alice")?.password, "secret");
        store.close();
        const again = await impl.open(path, true);
        try {
          assert.equal(again.getAccount("example.com", "alice")?.password, "secret");
        } finally {
          again.close();
        }
        // Reopened without the option: the password is scrubbed, the HA1s stay.
        const strict = await impl.open(path, false);
        try {
          const got = strict.getAccount("example.com", "alice");
          assert.equal(got?.password, undefined);
          assert.equal(strict.version(), 1, "scrubbing is no registry change");
          assert.equal(got?.ha1.md5, ha1("md5", "alice", "example.com", "secret"));
        } finally {
          strict.close();
        }
        const stored = await impl.stored(path);
        assert.match(stored, /alice/, "the record is read where it is kept");
        assert.equal(stored.includes("secret"), false);
      }, true),
  });

  Deno.test(`store conformance [${impl.name}]: concurrent writes all become durable`, () =>
    withStore(impl, async (store, path) => {
      const writes = [];
      for (let i = 0; i < 200; i++) writes.push(store.putAccount(user(`u${i}`)));
      writes.push(store.deleteAccount("example.com", "u7"));
      await Promise.all(writes);
      assert.equal(store.version(), 201);
      store.close();
      const again = await impl.open(path);
      try {
        assert.equal(again.listAccounts().length, 199);
        assert.equal(again.getAccount("example.com", "u7"), undefined);
        assert.equal(again.version(), 201);
      } finally {
        again.close();
      }
    }));
}
