import assert from "node:assert/strict";
import { Counters, EventBus } from "./events.ts";

Deno.test("EventBus.has: true only while a handler for that type is subscribed", () => {
  const bus = new EventBus();
  assert.equal(bus.has("server.started"), false);
  const seen: string[] = [];
  const off = bus.on("server.started", (e) => seen.push(e.type));
  assert.equal(bus.has("server.started"), true);
  assert.equal(bus.has("server.stopped"), false);
  bus.emit({ type: "server.started" });
  off();
  assert.equal(bus.has("server.started"), false);
  bus.emit({ type: "server.started" });
  assert.deepEqual(seen, ["server.started"]);
});

Deno.test("Counters: one value per name and label set; total filters by labels", () => {
  const c = new Counters();
  for (let i = 0; i < 3; i++) c.inc("in", { transport: "udp", method: "REGISTER" });
  c.inc("in", { transport: "udp", method: "INVITE" }, 5);
  c.inc("in", { transport: "ws", method: "REGISTER" });
  c.inc("in", { transport: "udp", status: "REGISTER" });
  c.inc("out");
  c.inc("out");
  assert.equal(c.total("in"), 10);
  assert.equal(c.total("in", { transport: "udp" }), 9);
  assert.equal(c.total("in", { method: "REGISTER" }), 4);
  assert.equal(c.total("in", { status: "REGISTER" }), 1, "same value under another label name");
  assert.equal(c.total("out"), 2);
  assert.equal(c.total("missing"), 0);
  assert.deepEqual(c.snapshot(), [
    { name: "in", labels: { transport: "udp", method: "REGISTER" }, value: 3 },
    { name: "in", labels: { transport: "udp", method: "INVITE" }, value: 5 },
    { name: "in", labels: { transport: "ws", method: "REGISTER" }, value: 1 },
    { name: "in", labels: { transport: "udp", status: "REGISTER" }, value: 1 },
    { name: "out", labels: {}, value: 2 },
  ]);
});

Deno.test("Counters.snapshot: a copy the caller may change", () => {
  const c = new Counters();
  c.inc("x", { a: "1" });
  const snap = c.snapshot();
  snap[0].labels.a = "2";
  snap[0].value = 99;
  assert.deepEqual(c.snapshot(), [{ name: "x", labels: { a: "1" }, value: 1 }]);
});
