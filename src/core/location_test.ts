import assert from "node:assert/strict";
import { EventBus } from "../events.ts";
import { parseUri } from "../sip/uri.ts";
import type { Flow } from "../transport/types.ts";
import { type AsyncLocationStore, type Binding, contactFields } from "./binding.ts";
import { LocationService } from "./location.ts";
import { testFlow } from "./fixtures_test.ts";

const FLOW: Flow = testFlow("udp", "udp:test");

function binding(user: string, contact: string, expiresAt: number): Binding {
  return {
    aor: `${user}@example.test`,
    domain: "example.test",
    user,
    ...contactFields(contact, parseUri(contact)),
    contactParams: "",
    flow: FLOW,
    callId: `c-${user}`,
    cseq: 1,
    expiresAt,
    registeredAt: 0,
    path: [],
    outstandingPings: 0,
  };
}

function setup() {
  const clock = { now: 0 };
  const events = new EventBus();
  const expired: string[] = [];
  events.on("registration.removed", (e) => {
    if (e.cause === "expired") expired.push(e.binding.contact);
  });
  return { clock, expired, location: new LocationService(events, () => clock.now) };
}

Deno.test("sweep removes exactly the bindings that are due, refreshes move the expiry", () => {
  const { clock, expired, location } = setup();
  location.save(binding("a", "sip:a@10.0.0.1", 1000));
  location.save(binding("b", "sip:b@10.0.0.2", 3000));
  location.save(binding("c", "sip:c@10.0.0.3", 2000));
  location.save(binding("a", "sip:a@10.0.0.1", 5000)); // refresh: 1000 → 5000
  clock.now = 1500;
  assert.equal(location.sweep(), 0, "a was refreshed");
  clock.now = 2000;
  assert.equal(location.sweep(), 1);
  assert.deepEqual(expired, ["sip:c@10.0.0.3"]);
  clock.now = 4000;
  assert.equal(location.sweep(), 1);
  assert.deepEqual(expired, ["sip:c@10.0.0.3", "sip:b@10.0.0.2"]);
  assert.equal(location.size, 1);
  clock.now = 5000;
  assert.equal(location.sweep(), 1);
  assert.equal(location.size, 0);
});

Deno.test("a binding removed before expiry is not reported again by the sweep", () => {
  const { clock, expired, location } = setup();
  const b = binding("a", "sip:a@10.0.0.1", 1000);
  location.save(b);
  location.remove(b, "unregistered");
  clock.now = 2000;
  assert.equal(location.sweep(), 0);
  assert.deepEqual(expired, []);
});

Deno.test("sweep agrees with a full scan under refreshes, earlier and later, and removals (heap rebuilds included)", () => {
  const { clock, location } = setup();
  let seed = 7;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  for (let step = 0; step < 20_000; step++) {
    const user = `u${rand(300)}`;
    const saved = binding(user, `sip:${user}@10.0.0.1`, clock.now + 1 + rand(5000));
    location.save(saved);
    if (rand(4) === 0) location.remove(saved, "unregistered");
    if (step % 100 === 0) {
      clock.now += rand(400);
      const due = location.all().filter((b) => b.expiresAt <= clock.now).length;
      assert.equal(location.sweep(), due, `step ${step}`);
      assert.ok(location.all().every((b) => b.expiresAt > clock.now));
    }
  }
});

Deno.test("save: registration.added, then .refreshed, reach their listeners with the binding's view", () => {
  const events = new EventBus();
  const location = new LocationService(events, () => 0);
  // Nobody listens yet: saving still works (the view is simply not built).
  location.save(binding("q", "sip:q@10.0.0.9", 1000));
  const seen: [string, string, number][] = [];
  events.on(
    "registration.added",
    (e) => seen.push([e.type, e.binding.contact, e.binding.expiresAt]),
  );
  events.on(
    "registration.refreshed",
    (e) => seen.push([e.type, e.binding.contact, e.binding.expiresAt]),
  );
  location.save(binding("a", "sip:a@10.0.0.1", 1000));
  location.save(binding("a", "sip:a@10.0.0.1", 2000));
  location.save(binding("q", "sip:q@10.0.0.9", 3000));
  assert.deepEqual(seen, [
    ["registration.added", "sip:a@10.0.0.1", 1000],
    ["registration.refreshed", "sip:a@10.0.0.1", 2000],
    ["registration.refreshed", "sip:q@10.0.0.9", 3000],
  ]);
});

Deno.test("byContact: a browser's .invalid contact is found by its index, live bindings only", () => {
  const { clock, location } = setup();
  for (let i = 0; i < 50; i++) {
    location.save(binding(`u${i}`, `sip:k${i}@h${i}.invalid;transport=ws`, 1000));
  }
  location.save(binding("p", "sip:p@10.0.0.5:5070", 1000));
  const found = location.byContact({ user: "k7", host: "h7.invalid" });
  assert.equal(found?.aor, "u7@example.test");
  assert.equal(location.byContact({ user: "k7", host: "h7.invalid", port: 5 }), undefined);
  assert.equal(location.byContact({ user: "p", host: "10.0.0.5", port: 5070 }), undefined);
  location.remove(found!, "unregistered");
  assert.equal(location.byContact({ user: "k7", host: "h7.invalid" }), undefined);
  clock.now = 1000;
  assert.equal(location.byContact({ user: "k8", host: "h8.invalid" }), undefined, "expired");
});

Deno.test("setOutstandingPings saves a new record; a copy from before a refresh changes nothing", () => {
  const { location } = setup();
  const first = binding("a", "sip:a@10.0.0.1", 1000);
  location.save(first);
  const updated = location.setOutstandingPings(first, 2);
  assert.equal(updated?.outstandingPings, 2);
  assert.equal(first.outstandingPings, 0, "the caller's record is not mutated");
  location.save(binding("a", "sip:a@10.0.0.1", 2000)); // refresh
  assert.equal(location.setOutstandingPings(first, 3), undefined);
  assert.equal(location.remove(first, "ping_failed"), false, "the refresh is kept");
  assert.equal(location.size, 1);
});

Deno.test("the in-memory store fulfils the async (remote) store contract too", async () => {
  const { location } = setup();
  // Compiles only while every LocationStore method fits the AsyncLocationStore shape.
  const remote: AsyncLocationStore = location;
  await remote.save(binding("r", "sip:r@10.0.0.7", 1000));
  assert.equal((await remote.lookup("r@example.test")).length, 1);
});
