import assert from "node:assert/strict";
import { StoreError } from "./account.ts";
import { openStore, type StoreConfig } from "./open_store.ts";
import { inTempDir } from "./fixtures_test.ts";

const TMP = "sipws_open_";

const PUT_REQUEST = JSON.stringify({
  q: "put",
  domain: "example.com",
  key: "ignored-at-startup",
  data: [
    { o: "+", u: "alice", k: "a", cn: "Alice", description: "", i: "http://i/a.png" },
    { o: "+", u: "bob", k: "b" },
    { o: "-", u: "bob" },
  ],
  v: 5,
});

Deno.test("openStore: sqlite by default, JSON file with -b", () =>
  inTempDir(TMP, async (dir) => {
    const sqlite = await openStore({ storePath: `${dir}/s.db`, storePlainPasswords: false });
    assert.equal(sqlite.kind, "sqlite");
    sqlite.close();
    assert.ok((await Deno.stat(`${dir}/s.db`)).isFile);

    const config: StoreConfig = {
      storePath: `${dir}/unused.db`,
      dbFile: `${dir}/db.json`,
      storePlainPasswords: false,
    };
    const json = await openStore(config);
    assert.equal(json.kind, "json");
    json.close();
    assert.ok((await Deno.stat(`${dir}/db.json`)).isFile);
    await assert.rejects(Deno.stat(`${dir}/unused.db`), Deno.errors.NotFound);
  }));

for (const kind of ["sqlite", "json"]) {
  Deno.test(`openStore [${kind}]: -d put request is applied as one change`, () =>
    inTempDir(TMP, async (dir) => {
      await Deno.writeTextFile(`${dir}/start.json`, PUT_REQUEST);
      const config: StoreConfig = {
        storePath: `${dir}/s.db`,
        dbFile: kind === "json" ? `${dir}/db.json` : undefined,
        dataFile: `${dir}/start.json`,
        storePlainPasswords: true,
      };
      const store = await openStore(config);
      try {
        assert.deepEqual(store.listAccounts().map((a) => a.user), ["alice"]);
        const alice = store.getAccount("example.com", "alice");
        assert.equal(alice?.password, "a");
        assert.equal(alice?.image, "http://i/a.png");
        assert.equal(store.version(), 1);
      } finally {
        store.close();
      }
      // Applied again at the next start: same accounts, one more version.
      const again = await openStore(config);
      assert.equal(again.version(), 2);
      assert.deepEqual(again.listAccounts().map((a) => a.user), ["alice"]);
      again.close();
    }));
}

Deno.test("openStore: -d accepts a database-format file, domain entries included", () =>
  inTempDir(TMP, async (dir) => {
    await Deno.writeTextFile(
      `${dir}/start.json`,
      JSON.stringify({
        data: [{ id: "100", password: "pw", cn: "Alice" }],
        domain: "10.0.0.1",
        domains: [{ domain: "10.0.0.1", control: "http://127.0.0.1:9/ctl" }],
      }),
    );
    const store = await openStore({
      storePath: `${dir}/s.db`,
      dataFile: `${dir}/start.json`,
      storePlainPasswords: false,
    });
    try {
      assert.equal(store.getAccount("10.0.0.1", "100")?.cn, "Alice");
      assert.equal(store.getDomain("10.0.0.1")?.control, "http://127.0.0.1:9/ctl");
    } finally {
      store.close();
    }
  }));

Deno.test("openStore: a bad -d file fails naming file and field, before opening", () =>
  inTempDir(TMP, async (dir) => {
    await Deno.writeTextFile(
      `${dir}/start.json`,
      JSON.stringify({ q: "put", domain: "a", data: [{ u: "x", k: "p", port: 99999 }] }),
    );
    await assert.rejects(
      openStore({
        storePath: `${dir}/s.db`,
        dataFile: `${dir}/start.json`,
        storePlainPasswords: false,
      }),
      (e: unknown) =>
        e instanceof StoreError && e.field === "data[0].port" &&
        e.message.includes("start.json"),
    );
    await assert.rejects(Deno.stat(`${dir}/s.db`), Deno.errors.NotFound);
    await assert.rejects(
      openStore({
        storePath: `${dir}/s.db`,
        dataFile: `${dir}/nope.json`,
        storePlainPasswords: false,
      }),
      (e: unknown) => e instanceof StoreError && e.message.includes("nope.json"),
    );
  }));
