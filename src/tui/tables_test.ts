import assert from "node:assert/strict";
import { atLeast, formatLogLine, LogTap, nextLevel } from "./log_tap.ts";
import type { DashboardSnapshot } from "./source.ts";
import type { BanView } from "../events.ts";
import {
  banTable,
  connectionTable,
  dialogDuration,
  dialogTable,
  headerLines,
  ratesBetween,
  registrationTable,
} from "./tables.ts";

const BAN: BanView = {
  address: "192.0.2.7",
  since: 10_000,
  until: 10_000 + 600_000,
  reason: "auth_failures",
  failures: 10,
  accounts: ["alice@example.com"],
  realms: ["example.com"],
  repeat: 2,
};

function snapshot(over: Partial<DashboardSnapshot> = {}): DashboardSnapshot {
  return {
    takenAt: 10_000,
    version: "0.1.0",
    startedAt: 10_000 - 3723_000,
    listening: [{ transport: "udp", address: "127.0.0.1:5060" }, {
      transport: "ws",
      address: "127.0.0.1:8080",
    }],
    counters: {
      messagesIn: 100,
      messagesOut: 90,
      authFailures: 2,
      parseErrors: 1,
      rateLimited: 0,
    },
    registrationCount: 1,
    bans: [],
    registrations: [],
    dialogs: [],
    connections: [],
    accepting: true,
    webSocketsEnabled: true,
    ...over,
  };
}

Deno.test("registrationTable: a cluster's rows get a NODE column, a single server's do not", () => {
  const row = {
    id: "a",
    aor: "alice@x",
    domain: "x",
    user: "alice",
    transport: "ws",
    remote: "127.0.0.1:5000",
    outstandingPings: 0,
  };
  assert.equal(registrationTable([row], 0).columns.at(-1)?.title, "USER AGENT");
  const t = registrationTable([{ ...row, node: "n2" }], 0);
  assert.equal(t.columns.at(-1)?.title, "NODE");
  assert.equal(t.rows[0].cells.at(-1), "n2");
});

Deno.test("registrationTable: sorted by AOR, countdown, contact without scheme", () => {
  const t = registrationTable([
    {
      id: "b",
      aor: "bob@x",
      domain: "x",
      user: "bob",
      transport: "udp",
      remote: "127.0.0.1:4000",
      expiresAt: 70_000,
      outstandingPings: 0,
    },
    {
      id: "a",
      aor: "alice@x",
      domain: "x",
      user: "alice",
      contact: "<sip:a@h.invalid;transport=ws>",
      transport: "ws",
      remote: "127.0.0.1:5000",
      userAgent: "JsSIP 3.13",
      expiresAt: 5_000,
      outstandingPings: 2,
    },
  ], 10_000);
  assert.deepEqual(t.rows.map((r) => r.key), ["a", "b"]);
  assert.deepEqual(t.rows[0].cells, [
    "alice@x",
    "a@h.invalid;transport=ws",
    "ws",
    "127.0.0.1:5000",
    "expired",
    "2",
    "JsSIP 3.13",
  ]);
  assert.equal(t.rows[1].cells[1], "-");
  assert.equal(t.rows[1].cells[4], "1m00s");
  assert.equal(t.columns.length, t.rows[0].cells.length);
});

Deno.test("dialogTable: from → to, duration from answer, both legs' transports", () => {
  const d = {
    callId: "c1",
    from: "<sip:alice@x>",
    to: "<sip:bob@x>",
    state: "confirmed" as const,
    caller: { transport: "ws", remote: "127.0.0.1:1" },
    callee: { transport: "udp", remote: "127.0.0.1:2" },
    startedAt: 1000,
    answeredAt: 4000,
  };
  assert.equal(dialogDuration(d, 9000), 5000);
  assert.equal(dialogDuration({ ...d, endedAt: 6000 }, 9000), 2000);
  const t = dialogTable([d], 9000);
  assert.deepEqual(t.rows[0].cells, ["c1", "alice@x → bob@x", "confirmed", "5s", "ws→udp"]);
  const early = dialogTable(
    [{ ...d, state: "early", callee: undefined, answeredAt: undefined }],
    9000,
  );
  assert.deepEqual(early.rows[0].cells.slice(2), ["early", "8s", "ws→?"]);
  // A cluster's call through two nodes: a row per node, told apart by a NODE column.
  const both = dialogTable([{ ...d, node: "n1" }, { ...d, node: "n2" }], 9000);
  assert.equal(both.columns.at(-1)?.title, "NODE");
  assert.deepEqual(both.rows.map((r) => r.cells.at(-1)), ["n1", "n2"]);
  assert.notEqual(both.rows[0].key, both.rows[1].key);
  // A call driven over HTTP shows its last event beside the state, and its legs.
  const leg = { target: "sip:bob@x", remote: "127.0.0.1:3", state: "ringing" as const };
  const api = dialogTable([{
    ...d,
    state: "early",
    answeredAt: undefined,
    kind: "originated",
    caller: { transport: "api", remote: "http://127.0.0.1:8" },
    callee: undefined,
    legs: [{ ...leg, transport: "udp" }, { ...leg, transport: "ws" }],
    events: [{ event: "trying", at: 1000 }, { event: "ringing", code: 180, at: 1200 }],
  }], 9000);
  assert.deepEqual(api.rows[0].cells.slice(2), ["early ringing 180", "8s", "api→udp,ws"]);
  const held = dialogTable([{
    ...d,
    kind: "held",
    callee: undefined,
    events: [{ event: "answered", code: 200, at: 4000 }, {
      event: "transfer",
      code: 100,
      at: 5000,
    }],
  }], 9000);
  assert.deepEqual(held.rows[0].cells.slice(2), ["confirmed transfer 100", "5s", "ws→sipws"]);
});

Deno.test("connectionTable: age, messages in/out, last activity", () => {
  const t = connectionTable([{
    id: "ws:3",
    transport: "ws",
    remote: "127.0.0.1:40000",
    origin: "https://app.example",
    openedAt: 0,
    messagesIn: 4,
    messagesOut: 5,
    lastActivity: 58_000,
    aors: ["alice@x", "bob@x"],
    queued: 12,
  }], 60_000);
  assert.deepEqual(t.rows[0].cells, [
    "ws:3",
    "127.0.0.1:40000",
    "https://app.example",
    "1m00s",
    "4/5",
    "2s",
    "12",
    "alice@x bob@x",
  ]);
});

Deno.test("headerLines: version, uptime, listeners, rates and counters", () => {
  const prev = snapshot();
  const cur = snapshot({
    takenAt: 12_000,
    counters: {
      messagesIn: 120,
      messagesOut: 100,
      authFailures: 3,
      parseErrors: 1,
      rateLimited: 7,
    },
    bans: [BAN, { ...BAN, address: "192.0.2.9" }],
    connections: [],
    dialogs: [{
      callId: "c",
      from: "a",
      to: "b",
      state: "terminated",
      caller: { transport: "udp", remote: "" },
      startedAt: 0,
    }],
  });
  const rates = ratesBetween(prev, cur);
  assert.deepEqual(rates, { messagesIn: 10, messagesOut: 5 });
  const [a, b] = headerLines(cur, rates, "local", 12_000);
  assert.equal(a, "sipws 0.1.0  up 01:02:05  udp 127.0.0.1:5060  ws 127.0.0.1:8080");
  assert.equal(
    b,
    "in 10/s  out 5/s  regs 1  dialogs 0  ws 0  auth fail 3  parse err 1  bans 2  rate-limited 7",
  );
  const [remote] = headerLines(
    { ...cur, version: undefined, accepting: false },
    rates,
    "http://127.0.0.1:8082",
    12_000,
  );
  assert.match(remote, /^sipws @ http:\/\/127\.0\.0\.1:8082 {2}up 01:02:05 {2}\[SIP stopped\]/);
});

Deno.test("LogTap: ring buffer keeps the newest records in order", () => {
  const tap = new LogTap(3);
  for (let i = 0; i < 5; i++) {
    tap.sink({ level: "info", time: new Date(0), component: "t", message: `m${i}` }, "");
  }
  assert.equal(tap.written, 5);
  assert.equal(tap.size, 3);
  assert.deepEqual(tap.records().map((r) => r.message), ["m2", "m3", "m4"]);
});

Deno.test("log levels: threshold test, cycling, line format", () => {
  assert.ok(atLeast("error", "warn"));
  assert.ok(!atLeast("info", "warn"));
  assert.ok(atLeast("debug", "debug"));
  assert.equal(nextLevel("debug"), "info");
  assert.equal(nextLevel("error"), "debug");
  assert.equal(
    formatLogLine({
      level: "warn",
      time: new Date("2024-01-02T03:04:05.678Z"),
      component: "core",
      message: "x",
    }),
    "03:04:05.678 WARN  [core] x",
  );
});

Deno.test("banTable: address, reason, failures, repeat, time left, accounts", () => {
  const t = banTable([BAN], 10_000 + 60_000);
  assert.deepEqual(t.columns.map((c) => c.title), [
    "ADDRESS",
    "REASON",
    "FAILS",
    "REPEAT",
    "ENDS IN",
    "ACCOUNTS",
  ]);
  assert.equal(t.rows[0].key, "192.0.2.7");
  assert.deepEqual(t.rows[0].cells.slice(0, 4), ["192.0.2.7", "auth_failures", "10", "2"]);
  assert.equal(t.rows[0].cells[4], "9m00s");
  assert.equal(t.rows[0].cells[5], "alice@example.com");
});
