import assert from "node:assert/strict";
import { StoreError } from "./account.ts";
import { parseDatabaseFile, parseSipwsRequest, parseSipwsRequestText } from "./sipws_request.ts";
import { SEED_DATABASE } from "./fixtures_test.ts";

function failsOn(fn: () => unknown, field: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof StoreError, String(e));
    assert.equal(e.field, field, e.message);
    assert.ok(e.message.includes(field), e.message);
    return true;
  });
}

Deno.test("SIPWS put request: entries become put and delete changes in order", () => {
  const request = parseSipwsRequest({
    q: "put",
    domain: "example.com",
    key: "k1",
    v: 124,
    data: [
      { o: "+", u: "alice", k: "pw", cn: "Alice", description: "d", i: "http://i/a.png" },
      { o: "-", u: "bob" },
      { u: "carol", k: "" },
      { o: "+", u: "dave", k: "x", domain: "other.org", port: "5062" },
    ],
  });
  assert.equal(request.format, "put");
  assert.equal(request.domain, "example.com");
  assert.equal(request.key, "k1");
  assert.equal(request.version, 124);
  assert.deepEqual(request.changes, [
    {
      op: "put",
      account: {
        domain: "example.com",
        user: "alice",
        password: "pw",
        image: "http://i/a.png",
        cn: "Alice",
        description: "d",
      },
    },
    { op: "delete", domain: "example.com", user: "bob" },
    { op: "put", account: { domain: "example.com", user: "carol", password: "" } },
    { op: "put", account: { domain: "other.org", user: "dave", password: "x", port: 5062 } },
  ]);
  assert.deepEqual(request.accounts.map((a) => a.user), ["alice", "carol", "dave"]);
});

Deno.test("SIPWS put request: errors name the bad field", () => {
  const put = (data: unknown, extra: Record<string, unknown> = {}) => () =>
    parseSipwsRequest({ q: "put", domain: "example.com", data, ...extra });
  failsOn(put([{ o: "+", k: "pw" }]), "data[0].u");
  failsOn(put([{ u: "a", k: "pw" }, { o: "+", u: "b" }]), "data[1].k");
  failsOn(put([{ o: "*", u: "a", k: "pw" }]), "data[0].o");
  failsOn(put([{ u: "a", k: 5 }]), "data[0].k");
  failsOn(put([{ u: "a", k: "pw", port: "x" }]), "data[0].port");
  failsOn(put([{ u: "a", k: "pw", cn: 3 }]), "data[0].cn");
  failsOn(put(["a"]), "data[0]");
  failsOn(put({}), "data");
  failsOn(put([], { v: -1 }), "v");
  failsOn(put([{ u: "a", ha1: "0".repeat(32) }]), "data[0].ha1_sha256");
  failsOn(() => parseSipwsRequest({ q: "put", data: [{ u: "a", k: "pw" }] }), "domain");
  failsOn(() => parseSipwsRequest({ q: "list", data: [] }), "q");
  failsOn(() => parseSipwsRequest([1]), "(document)");
});

Deno.test("SIPWS database file: SIPWS's own example parses", () => {
  const file = parseDatabaseFile(JSON.parse(SEED_DATABASE));
  assert.deepEqual(file.accounts, [{
    domain: "192.168.43.113",
    user: "100",
    id: "100",
    password: "password",
    image: "http://acme.com/brb/sipws/i/100.png",
    cn: "Alice",
    description: "",
    avail: "0",
    origin: "registry",
    port: 5060,
    expire: 3600,
  }]);
  assert.equal(file.version, 0);
  assert.deepEqual(file.extras, { domain: "192.168.43.113", ip: "192.168.43.113" });
  assert.deepEqual(file.domains, []);
});

Deno.test("SIPWS database file: sipws extensions (ha1, user, v, domains) parse", () => {
  const file = parseDatabaseFile({
    data: [
      { id: 7, domain: "a.org", ha1: "a".repeat(32), ha1_sha256: "b".repeat(64), user: "bob" },
      { id: "100", password: "pw", avail: 1 },
    ],
    domain: "top.org",
    v: 9,
    domains: [{ domain: "a.org", control: "http://127.0.0.1:1/c" }],
  });
  assert.deepEqual(file.accounts[0], {
    domain: "a.org",
    user: "bob",
    id: "7",
    ha1: { md5: "a".repeat(32), sha256: "b".repeat(64) },
  });
  assert.deepEqual(file.accounts[1], {
    domain: "top.org",
    user: "100",
    id: "100",
    password: "pw",
    avail: "1",
  });
  assert.equal(file.version, 9);
  assert.deepEqual(file.domains, [{ domain: "a.org", control: "http://127.0.0.1:1/c" }]);
  assert.deepEqual(file.extras, { domain: "top.org" });
});

Deno.test("SIPWS database file: errors name the bad field", () => {
  failsOn(() => parseDatabaseFile({ data: [{ id: "1", password: "p" }] }), "data[0].domain");
  failsOn(() => parseDatabaseFile({ data: [{ domain: "a", password: "p" }] }), "data[0].id");
  failsOn(() => parseDatabaseFile({ domain: "a", data: [{ id: "1" }] }), "data[0].password");
  failsOn(
    () => parseDatabaseFile({ domain: "a", data: [{ id: "1", password: "p", expire: 1.5 }] }),
    "data[0].expire",
  );
  failsOn(() => parseDatabaseFile({ data: [], domains: [{}] }), "domains[0].domain");
  failsOn(() => parseDatabaseFile({ data: [], v: "x" }), "v");
});

Deno.test("SIPWS request text: database format is accepted as a startup request", () => {
  const request = parseSipwsRequestText(SEED_DATABASE, "db.json");
  assert.equal(request.format, "database");
  assert.equal(request.domain, "192.168.43.113");
  assert.equal(request.version, undefined);
  assert.deepEqual(request.changes.map((c) => c.op), ["put"]);
  assert.equal(request.accounts[0].user, "100");
});

Deno.test("SIPWS request text: errors name the source file", () => {
  assert.throws(() => parseSipwsRequestText("{", "start.json"), /start\.json: not valid JSON/);
  assert.throws(
    () => parseSipwsRequestText('{"q":"put","domain":"a","data":[{"k":"p"}]}', "start.json"),
    (e: unknown) =>
      e instanceof StoreError && e.field === "data[0].u" && e.message.startsWith("start.json: "),
  );
});
