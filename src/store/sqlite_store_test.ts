import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { StoreError } from "./account.ts";
import { SqliteStore } from "./sqlite_store.ts";
import { inTempDir } from "./fixtures_test.ts";

const TMP = "sipws_sqlite_";

type Row = Record<string, unknown>;

Deno.test("sqlite store: WAL journal, the issue's schema, version in meta", () =>
  inTempDir(TMP, async (dir) => {
    const path = `${dir}/a.db`;
    const store = SqliteStore.open(path);
    await store.putAccount({ domain: "Example.COM", user: "alice", password: "pw", port: 5060 });
    await store.putDomain({ domain: "example.com", control: "http://127.0.0.1:9/c" });

    // A second connection reads what the first committed, before the first closes.
    const db = new DatabaseSync(path);
    try {
      assert.equal((db.prepare("PRAGMA journal_mode").get() as Row).journal_mode, "wal");
      const columns = (db.prepare("PRAGMA table_info(accounts)").all() as Row[]).map((r) => r.name);
      assert.deepEqual(columns, [
        "domain",
        "user",
        "password",
        "ha1_md5",
        "ha1_sha256",
        "cn",
        "description",
        "image",
        "id",
        "avail",
        "origin",
        "port",
        "expire",
      ]);
      const row = db.prepare("SELECT * FROM accounts").get() as Row;
      assert.equal(row.domain, "example.com", "domain stored in lower case");
      assert.equal(row.password, null, "no plain password by default");
      assert.equal(row.port, 5060);
      assert.equal(
        (db.prepare("SELECT control FROM domains WHERE domain = 'example.com'").get() as Row)
          .control,
        "http://127.0.0.1:9/c",
      );
      const meta = db.prepare("SELECT value FROM meta WHERE key = 'version'").get() as Row;
      assert.equal(Number(meta.value), 2);
      assert.equal(store.version(), 2);
    } finally {
      db.close();
      store.close();
    }
  }));

Deno.test("sqlite store: delete sees an account another process added", () =>
  inTempDir(TMP, async (dir) => {
    const path = `${dir}/a.db`;
    const a = SqliteStore.open(path);
    const b = SqliteStore.open(path);
    try {
      await b.putAccount({ domain: "x.org", user: "bob", password: "pw" });
      assert.equal(a.getAccount("x.org", "bob"), undefined, "cache is stale until reload");
      assert.equal(await a.deleteAccount("x.org", "bob"), true);
      assert.equal(a.version(), 2, "version is counted in the file, not per process");
      await b.reload();
      assert.equal(b.getAccount("x.org", "bob"), undefined);
    } finally {
      a.close();
      b.close();
    }
  }));

Deno.test("sqlite store: in-memory database works (for tests of other layers)", async () => {
  const store = SqliteStore.open(":memory:");
  await store.putAccount({ domain: "x.org", user: "bob", password: "pw" });
  assert.equal(store.getAccount("x.org", "bob")?.user, "bob");
  store.close();
});

Deno.test("sqlite store: an unopenable path is a StoreError", () =>
  inTempDir(TMP, async (dir) => {
    assert.throws(() => SqliteStore.open(`${dir}/missing/dir/a.db`), StoreError);
    await Deno.writeTextFile(`${dir}/junk.db`, "this is not a database file at all".repeat(50));
    assert.throws(() => SqliteStore.open(`${dir}/junk.db`), StoreError);
  }));
