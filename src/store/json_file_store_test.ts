import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { StoreError } from "./account.ts";
import { JsonFileStore, writeFileAtomic } from "./json_file_store.ts";
import { inTempDir, SEED_DATABASE } from "./fixtures_test.ts";

const TMP = "sipws_json_";

const md5 = (text: string) => createHash("md5").update(text).digest("hex");

Deno.test("json store: loads SIPWS's example file and serves HA1 with realm = domain", () =>
  inTempDir(TMP, async (dir) => {
    const path = `${dir}/db.json`;
    await Deno.writeTextFile(path, SEED_DATABASE);
    const store = await JsonFileStore.open(path, { storePlainPasswords: true });
    const alice = store.getAccount("192.168.43.113", "100");
    assert.equal(alice?.cn, "Alice");
    assert.equal(alice?.password, "password");
    assert.equal(alice?.ha1.md5, md5("100:192.168.43.113:password"));
    assert.equal(store.version(), 0);
    assert.equal(await Deno.readTextFile(path), SEED_DATABASE, "opening alone writes nothing");
    store.close();
  }));

Deno.test("json store: rewritten file keeps SIPWS's shape and top-level fields", () =>
  inTempDir(TMP, async (dir) => {
    const path = `${dir}/db.json`;
    await Deno.writeTextFile(path, SEED_DATABASE);
    const store = await JsonFileStore.open(path, { storePlainPasswords: true });
    await store.putAccount({ domain: "192.168.43.113", user: "101", password: "pw2", port: 5060 });
    await store.putDomain({ domain: "192.168.43.113", control: "http://127.0.0.1:9/c" });
    store.close();
    const doc = JSON.parse(await Deno.readTextFile(path));
    assert.equal(doc.domain, "192.168.43.113");
    assert.equal(doc.ip, "192.168.43.113");
    assert.equal(doc.v, 2);
    assert.deepEqual(doc.domains, [{ domain: "192.168.43.113", control: "http://127.0.0.1:9/c" }]);
    assert.deepEqual(doc.data[0], {
      avail: "0",
      cn: "Alice",
      description: "",
      domain: "192.168.43.113",
      expire: 3600,
      ha1: md5("100:192.168.43.113:password"),
      ha1_sha256: createHash("sha256").update("100:192.168.43.113:password").digest("hex"),
      id: "100",
      image: "http://acme.com/brb/sipws/i/100.png",
      origin: "registry",
      password: "password",
      port: 5060,
    });
    assert.equal(doc.data[1].id, "101");
    assert.equal(doc.data[1].password, "pw2");
    assert.equal(doc.data[1].user, undefined, "user is written only when it differs from id");
    const lines = (await Deno.readTextFile(path)).split("\n");
    assert.ok(lines.some((l) => l.trim().startsWith('{"avail":"0"')), "one entry per line");
  }));

Deno.test("json store: without plain passwords the file holds only HA1s", () =>
  inTempDir(TMP, async (dir) => {
    const path = `${dir}/db.json`;
    await Deno.writeTextFile(path, SEED_DATABASE);
    const store = await JsonFileStore.open(path);
    assert.equal(store.getAccount("192.168.43.113", "100")?.password, undefined);
    await store.putAccount({ domain: "x.org", user: "bob", password: "hunter2", id: "7" });
    store.close();
    const text = await Deno.readTextFile(path);
    assert.ok(!text.includes('"password"'), text);
    assert.ok(!text.includes("hunter2"));
    const bob = JSON.parse(text).data.find((e: { id: string }) => e.id === "7");
    assert.equal(bob.user, "bob");
    assert.equal(bob.ha1, md5("bob:x.org:hunter2"));
    const again = await JsonFileStore.open(path);
    assert.equal(again.getAccount("x.org", "bob")?.ha1.md5, md5("bob:x.org:hunter2"));
    assert.equal(again.getAccount("x.org", "bob")?.id, "7");
    again.close();
  }));

Deno.test("json store: a missing file is created, a broken one is a StoreError", () =>
  inTempDir(TMP, async (dir) => {
    const path = `${dir}/new.json`;
    const store = await JsonFileStore.open(path);
    store.close();
    assert.deepEqual(JSON.parse(await Deno.readTextFile(path)), { data: [], v: 0, domains: [] });
    assert.equal((await Deno.stat(path)).mode! & 0o077, 0, "new file is private");

    await Deno.writeTextFile(`${dir}/bad.json`, "{ not json");
    await assert.rejects(JsonFileStore.open(`${dir}/bad.json`), (e: unknown) => {
      return e instanceof StoreError && e.message.includes("bad.json");
    });
    await Deno.writeTextFile(
      `${dir}/badport.json`,
      '{"domain":"a","data":[{"id":"1","password":"p"},{"id":"2","password":"p","port":"x"}]}',
    );
    await assert.rejects(JsonFileStore.open(`${dir}/badport.json`), (e: unknown) => {
      return e instanceof StoreError && e.field === "data[1].port" &&
        e.message.includes("badport.json");
    });
  }));

Deno.test("json store: a burst of writes is grouped and leaves no temp file", () =>
  inTempDir(TMP, async (dir) => {
    const path = `${dir}/db.json`;
    const store = await JsonFileStore.open(path);
    const writes = [];
    for (let i = 0; i < 100; i++) {
      writes.push(store.putAccount({ domain: "a.org", user: `u${i}`, password: "p" }));
    }
    // Reads see a change at once, before it is durable.
    assert.equal(store.listAccounts().length, 100);
    await Promise.all(writes);
    store.close();
    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assert.deepEqual(names, ["db.json"]);
    assert.equal(JSON.parse(await Deno.readTextFile(path)).data.length, 100);
  }));

Deno.test("json store: a failed rewrite rejects and memory returns to the disk", () =>
  inTempDir(TMP, async (dir) => {
    const sub = `${dir}/sub`;
    await Deno.mkdir(sub);
    const path = `${sub}/db.json`;
    const store = await JsonFileStore.open(path);
    await store.putAccount({ domain: "a.org", user: "kept", password: "p" });
    if (Deno.uid() === 0) {
      // Root ignores permissions: make the rewrite fail by removing the folder instead.
      await Deno.remove(sub, { recursive: true });
    } else {
      await Deno.chmod(sub, 0o500);
    }
    await assert.rejects(
      store.putAccount({ domain: "a.org", user: "lost", password: "p" }),
      StoreError,
    );
    assert.equal(store.getAccount("a.org", "lost"), undefined);
    assert.equal(store.getAccount("a.org", "kept")?.user, "kept");
    assert.equal(store.version(), 1);
    if (Deno.uid() !== 0) await Deno.chmod(sub, 0o700);
    store.close();
  }));

Deno.test("json store: stale temp files from a killed writer are removed at open", () =>
  inTempDir(TMP, async (dir) => {
    const path = `${dir}/db.json`;
    await writeFileAtomic(path, SEED_DATABASE);
    const stale = `${dir}/.db.json.999.1.tmp`;
    const fresh = `${dir}/.db.json.999.2.tmp`;
    await Deno.writeTextFile(stale, "{");
    await Deno.writeTextFile(fresh, "{");
    const old = new Date(Date.now() - 3_600_000);
    await Deno.utime(stale, old, old);
    const store = await JsonFileStore.open(path);
    store.close();
    await assert.rejects(Deno.stat(stale), Deno.errors.NotFound);
    assert.ok((await Deno.stat(fresh)).isFile, "a recent one may belong to a live writer");
  }));
