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
