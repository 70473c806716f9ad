import assert from "node:assert/strict";
import { CompletedResponses } from "./completed.ts";
import type { Flow } from "../transport/types.ts";

const flow: Flow = {
  id: "udp:test",
  transport: "udp",
  local: { host: "127.0.0.1", port: 5060 },
  remote: { host: "127.0.0.1", port: 40000 },
  reliable: false,
  secure: false,
};
const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

Deno.test("completed responses: kept until Timer J, a copy of the bytes each time", () => {
  const store = new CompletedResponses(1000, 4096);
  store.put("a", 200, bytes(100, 1), flow, 0);
  const hit = store.get("a", 999)!;
  assert.equal(hit.status, 200);
  assert.equal(hit.flow, flow);
  assert.deepEqual(hit.bytes, bytes(100, 1));
  hit.bytes[0] = 9; // a copy: the kept bytes do not change
  assert.equal(store.get("a", 999)!.bytes[0], 1);
  assert.equal(store.get("a", 1000), undefined);
  assert.equal(store.size, 0);
});

Deno.test("completed responses: the ring evicts the oldest entries it writes over", () => {
  const store = new CompletedResponses(60_000, 4096, 100);
  for (let i = 0; i < 40; i++) store.put(`k${i}`, 200, bytes(200, i), flow, i);
  // 4096 bytes hold 20 entries of 200: the 20 newest remain, each with its own bytes.
  assert.equal(store.size, 20);
  assert.equal(store.get("k19", 50), undefined);
  for (let i = 20; i < 40; i++) assert.deepEqual(store.get(`k${i}`, 50)!.bytes, bytes(200, i));
});

Deno.test("completed responses: the entry cap bounds the index; a key kept twice is the newest", () => {
  const store = new CompletedResponses(60_000, 1 << 20, 8);
  for (let i = 0; i < 100; i++) store.put(`k${i % 10}`, 200 + i, bytes(10, i), flow, i);
  assert.ok(store.size <= 8);
  assert.equal(store.get("k9", 200)!.status, 299);
  store.put("k9", 401, bytes(10, 7), flow, 300);
  assert.equal(store.get("k9", 301)!.status, 401);
  store.clear();
  assert.equal(store.size, 0);
});

Deno.test("completed responses: a response too large for the ring is not kept", () => {
  const store = new CompletedResponses(60_000, 4096);
  store.put("big", 200, bytes(1000, 1), flow, 0);
  assert.equal(store.get("big", 1), undefined);
});

Deno.test("completed responses: the index finds exactly the live entries through evictions", () => {
  // 8 entries in a 16-bucket table, keys from a pool of 24: probe runs collide, wrap and
  // shift back on every eviction. Live entries are the last 8 puts; each key finds its newest.
  const store = new CompletedResponses(1e9, 1 << 20, 8);
  const puts: string[] = [];
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let n = 0; n < 5000; n++) {
    const key = `z9hG4bK${Math.floor(random() * 24)}|127.0.0.1:5060|REGISTER`;
    store.put(key, 200 + (n % 400), bytes(4, n & 255), flow, n);
    puts.push(key);
    const live = new Map<string, number>();
    for (let i = Math.max(0, puts.length - 8); i < puts.length; i++) live.set(puts[i], i);
    assert.equal(store.size, live.size);
    for (let k = 0; k < 24; k++) {
      const probe = `z9hG4bK${k}|127.0.0.1:5060|REGISTER`;
      const hit = store.get(probe, n);
      const at = live.get(probe);
      if (at === undefined) assert.equal(hit, undefined);
      else assert.deepEqual([hit?.status, hit?.bytes[0]], [200 + (at % 400), at & 255]);
    }
  }
});
