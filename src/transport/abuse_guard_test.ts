import assert from "node:assert/strict";
import { CidrSet } from "../sip/cidr.ts";
import { SourceTable } from "./source_table.ts";
import {
  AbuseGuard,
  type AbuseOptions,
  type Ban,
  DROP_BANNED,
  DROP_RATE,
  PASS,
  REFUSE_RATE,
} from "./abuse_guard.ts";

function guard(over: Partial<AbuseOptions> = {}) {
  let now = 1_000_000;
  const options: AbuseOptions = {
    enabled: true,
    banAfter: 3,
    banWindowMs: 60_000,
    banTimeMs: 600_000,
    rateLimit: 5,
    maxConnectionsPerSource: 2,
    maxConnections: 3,
    trusted: new CidrSet(["10.9.0.0/16"]),
    goodSourceMs: 3_600_000,
    ...over,
  };
  const g = new AbuseGuard(options, () => now);
  const bans: Ban[] = [];
  const locks: string[] = [];
  g.onBanned = (b) => bans.push(b);
  g.onAccountBlocked = (address, account) => locks.push(`${account}@${address}`);
  return { g, bans, locks, advance: (ms: number) => now += ms };
}

Deno.test("an address with no good users is banned after ban_after failures, then dropped", () => {
  const { g, bans } = guard();
  g.recordFailure("1.2.3.4", "alice", "d");
  g.recordFailure("1.2.3.4", "alice", "d");
  assert.equal(bans.length, 0);
  assert.equal(g.checkMessage("1.2.3.4", undefined, true), PASS);
  g.recordFailure("1.2.3.4", "alice", "d");
  assert.equal(bans.length, 1);
  assert.equal(bans[0].reason, "auth_failures");
  assert.deepEqual(bans[0].realms, ["d"]);
  assert.equal(g.checkMessage("1.2.3.4", undefined, true), DROP_BANNED);
  assert.equal(g.checkMessage("1.2.3.4", undefined, false), DROP_BANNED);
  assert.equal(g.admitConnection("1.2.3.4"), "banned");
  assert.equal(g.checkMessage("1.2.3.5", undefined, true), PASS);
  assert.deepEqual(g.bans().map((b) => b.address), ["1.2.3.4"]);
});

Deno.test("failures outside the window do not add up", () => {
  const { g, bans, advance } = guard();
  g.recordFailure("1.2.3.4", "alice", "d");
  g.recordFailure("1.2.3.4", "alice", "d");
  advance(61_000);
  g.recordFailure("1.2.3.4", "alice", "d");
  assert.equal(bans.length, 0);
});

Deno.test("bans end after ban_time and double on repeat; unban forgets", () => {
  const { g, bans, advance } = guard();
  for (let i = 0; i < 3; i++) g.recordFailure("1.2.3.4", "a", "d");
  assert.equal(bans[0].until - bans[0].since, 600_000);
  advance(600_001);
  g.sweep();
  assert.equal(g.checkMessage("1.2.3.4", undefined, true), PASS);
  for (let i = 0; i < 3; i++) g.recordFailure("1.2.3.4", "a", "d");
  assert.equal(bans[1].repeat, 2);
  assert.equal(bans[1].until - bans[1].since, 1_200_000);
  assert.equal(g.unban("1.2.3.4"), true);
  assert.equal(g.unban("1.2.3.4"), false);
  assert.equal(g.checkMessage("1.2.3.4", undefined, true), PASS);
  for (let i = 0; i < 3; i++) g.recordFailure("1.2.3.4", "a", "d");
  assert.equal(bans[2].repeat, 1, "an operator's unban forgets the repeat count");
});

Deno.test("behind a known-good address one bad user locks only their account", () => {
  const { g, bans, locks } = guard();
  g.recordSuccess("5.5.5.5", "bob", "d");
  for (let i = 0; i < 5; i++) g.recordFailure("5.5.5.5", "alice", "d");
  assert.equal(bans.length, 0);
  assert.deepEqual(locks, ["alice@d@5.5.5.5"]);
  assert.ok(g.isBlocked("5.5.5.5", "alice", "d"));
  assert.ok(!g.isBlocked("5.5.5.5", "bob", "d"));
  assert.ok(!g.isBlocked("6.6.6.6", "alice", "d"));
  assert.equal(g.checkMessage("5.5.5.5", undefined, true), PASS);
  // Scanning ban_after distinct accounts bans even a known-good address.
  g.recordFailure("5.5.5.5", "carol", "d");
  g.recordFailure("5.5.5.5", "dave", "d");
  assert.equal(bans.length, 1);
  assert.equal(bans[0].reason, "accounts_scanned");
});

Deno.test("an address that keeps succeeding stays known-good past the window of its first success", () => {
  // A short window (1 s): successes every 50 ms must keep the address known throughout.
  const { g, bans, locks, advance } = guard({ goodSourceMs: 1_000 });
  for (let i = 0; i < 40; i++) {
    g.recordSuccess("5.5.5.5", "bob", "d");
    advance(50);
  }
  for (let i = 0; i < 5; i++) g.recordFailure("5.5.5.5", "alice", "d");
  assert.equal(bans.length, 0, "known-good: only the account is locked");
  assert.deepEqual(locks, ["alice@d@5.5.5.5"]);
  // Silent for longer than the window: no longer known, so failures ban the address.
  advance(1_100);
  for (let i = 0; i < 3; i++) g.recordFailure("5.5.5.5", "erin", "d");
  assert.equal(bans.length, 1);
});

Deno.test("trusted addresses are never banned, limited or capped", () => {
  const { g, bans } = guard();
  for (let i = 0; i < 10; i++) g.recordFailure("10.9.1.1", "a" + i, "d");
  assert.equal(bans.length, 0);
  for (let i = 0; i < 100; i++) assert.equal(g.checkMessage("10.9.1.1", "tcp:1", true), PASS);
  for (let i = 0; i < 5; i++) g.connectionOpened("10.9.1.1");
  assert.equal(g.admitConnection("10.9.1.1"), "ok");
});

Deno.test("rate: over the limit answered, beyond twice dropped, next second fine", () => {
  const { g, advance } = guard();
  const verdicts = Array.from({ length: 12 }, () => g.checkMessage("7.7.7.7", undefined, true));
  assert.deepEqual(verdicts, [0, 0, 0, 0, 0, REFUSE_RATE, 2, 2, 2, 2, DROP_RATE, 3]);
  assert.equal(g.checkMessage("7.7.7.8", undefined, true), PASS, "others are served");
  assert.equal(g.checkMessage("7.7.7.7", undefined, false), PASS, "responses are not counted");
  assert.equal(g.retryAfter("7.7.7.7"), 1);
  advance(1000);
  assert.equal(g.checkMessage("7.7.7.7", undefined, true), PASS);
  assert.ok(g.shouldReport("rate 7.7.7.7"));
  assert.ok(!g.shouldReport("rate 7.7.7.7"), "one report per episode");
});

Deno.test("rate per connection as well as per address", () => {
  const { g } = guard({ rateLimit: 3 });
  // Two addresses would each be within the limit; one connection is counted on its own.
  assert.equal(g.checkMessage("8.8.8.1", "ws:1", true), PASS);
  assert.equal(g.checkMessage("8.8.8.2", "ws:1", true), PASS);
  assert.equal(g.checkMessage("8.8.8.3", "ws:1", true), PASS);
  assert.equal(g.checkMessage("8.8.8.4", "ws:1", true), REFUSE_RATE);
});

Deno.test("connection caps per source and in all", () => {
  const { g } = guard();
  g.connectionOpened("1.1.1.1");
  g.connectionOpened("1.1.1.1");
  assert.equal(g.admitConnection("1.1.1.1"), "source_cap");
  assert.equal(g.admitConnection("2.2.2.2"), "ok");
  g.connectionOpened("2.2.2.2");
  assert.equal(g.admitConnection("3.3.3.3"), "total_cap");
  g.connectionClosed("1.1.1.1", "tcp:1");
  assert.equal(g.admitConnection("1.1.1.1"), "ok");
  assert.equal(g.admitConnection("3.3.3.3"), "ok");
});

Deno.test("disabled: everything passes", () => {
  const { g, bans } = guard({ enabled: false, rateLimit: 1 });
  for (let i = 0; i < 10; i++) g.recordFailure("1.2.3.4", "a", "d");
  assert.equal(bans.length, 0);
  for (let i = 0; i < 10; i++) assert.equal(g.checkMessage("1.2.3.4", undefined, true), PASS);
});

Deno.test("every table stays bounded under failures from many addresses", () => {
  const { g, advance } = guard({ maxEntries: 1000, banAfter: 1000 });
  for (let i = 0; i < 50_000; i++) {
    const host = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    g.recordFailure(host, "u" + i, "d");
    g.recordSuccess(host, "v", "d");
    g.checkMessage(host, `tcp:${i}`, true);
    g.shouldReport(host);
  }
  for (const [table, size] of Object.entries(g.sizes())) {
    assert.ok(size <= 1000, `${table} holds ${size}`);
  }
  advance(3_600_001);
  g.sweep();
  const sizes = g.sizes();
  assert.equal(sizes.failures + sizes.successes + sizes.rate_sources + sizes.reported, 0);
});

Deno.test("adopt holds another node's ban silently; unban tells, forget does not", () => {
  const { g, bans } = guard();
  const lifted: string[] = [];
  g.onLifted = (a) => lifted.push(a);
  const ban = {
    address: "9.9.9.9",
    since: 1_000_000,
    until: 1_600_000,
    reason: "auth_failures" as const,
    failures: 3,
    accounts: ["a@d"],
    realms: ["d"],
    repeat: 1,
  };
  assert.ok(g.adopt(ban));
  assert.equal(bans.length, 0, "onBanned is for local decisions only");
  assert.equal(g.checkMessage("9.9.9.9", undefined, true), DROP_BANNED);
  assert.ok(!g.adopt({ ...ban, address: "10.9.0.1" }), "a trusted address is not adopted");
  assert.ok(!g.adopt({ ...ban, address: "8.8.4.4", until: 999_999 }), "an ended ban is not");
  assert.ok(g.forget("9.9.9.9"));
  assert.deepEqual(lifted, []);
  g.adopt(ban);
  assert.ok(g.unban("9.9.9.9"));
  assert.deepEqual(lifted, ["9.9.9.9"]);
});

Deno.test("with a process table the thread reading the failure that bans holds the ban at once; main bans once when told", () => {
  const options: AbuseOptions = {
    enabled: true,
    banAfter: 3,
    banWindowMs: 60_000,
    banTimeMs: 600_000,
    rateLimit: 0,
    maxConnectionsPerSource: 0,
    maxConnections: 0,
    trusted: new CidrSet([]),
    goodSourceMs: 3_600_000,
  };
  const now = () => 1_000_000;
  const table = new SourceTable(100);
  const main = new AbuseGuard(options, now, table);
  const worker = new AbuseGuard(options, now, new SourceTable(table.buffer));
  const bans: Ban[] = [];
  main.onBanned = (b) => bans.push(b);
  main.recordFailure("1.2.3.4", "alice", "d"); // read on main
  for (let i = 0; i < 2; i++) {
    const crosses = worker.countFailure("1.2.3.4"); // read on the worker, then reported
    main.recordFailure("1.2.3.4", "alice", "d", crosses);
  }
  assert.equal(worker.checkMessage("1.2.3.4", undefined, true), DROP_BANNED, "held where read");
  assert.equal(bans.length, 1, "decided once, on main");
  assert.equal(bans[0].reason, "auth_failures");
  assert.deepEqual(bans[0].accounts, ["alice@d"]);
  // A success read by the worker makes the address known-good for the process at once.
  worker.recordSuccess("5.6.7.8", "bob", "d");
  for (let i = 0; i < 4; i++) assert.equal(worker.countFailure("5.6.7.8"), false);
});
