import assert from "node:assert/strict";
import { callIdHash, callIdValueHash, callOwner, MAIN_SLOTS } from "./call_id_hash.ts";

const enc = new TextEncoder();
const msg = (headers: string) => enc.encode(`INVITE sip:a@b SIP/2.0\r\n${headers}\r\n\r\nbody`);

Deno.test("callIdHash: long, compact and differently written names give one hash", () => {
  const long = callIdHash(msg("Via: SIP/2.0/UDP h\r\nCall-ID: abc@h\r\nCSeq: 1 INVITE"));
  assert.ok(long >= 0);
  assert.equal(callIdHash(msg("i: abc@h")), long);
  assert.equal(callIdHash(msg("CALL-ID  :abc@h  ")), long);
  assert.notEqual(callIdHash(msg("Call-ID: abd@h")), long);
});

Deno.test("callIdHash: -1 without a Call-ID, and the body is not searched", () => {
  assert.equal(callIdHash(msg("Via: SIP/2.0/UDP h")), -1);
  assert.equal(callIdHash(enc.encode("INVITE sip:a@b SIP/2.0\r\nTo: x\r\n\r\nCall-ID: z\r\n")), -1);
  assert.equal(callIdHash(msg("Call-Info: <http://x>")), -1);
  assert.equal(callIdHash(new Uint8Array(0)), -1);
});

Deno.test("callIdValueHash agrees with the hash read from a message", () => {
  assert.equal(callIdValueHash("k3j4@10.0.0.1"), callIdHash(msg("Call-ID: k3j4@10.0.0.1")));
});

Deno.test("callOwner: Call-IDs differing in a counter spread evenly; from 3 workers the main thread keeps 1 in 64", () => {
  const shares = (count: number) => {
    const n = new Array(count).fill(0);
    for (let i = 0; i < 64_000; i++) n[callOwner(callIdValueHash(`run7-${i}@bench`), count)]++;
    return n;
  };
  const [a, b] = shares(2);
  assert.ok(Math.abs(a - b) < 1_000, `2 workers: ${a} / ${b}`);
  const [main, w1, w2] = shares(3);
  assert.ok(Math.abs(main - 64_000 / MAIN_SLOTS) < 250, `main thread: ${main}`);
  assert.ok(Math.abs(w1 - w2) < 1_000, `worker threads: ${w1} / ${w2}`);
  assert.equal(callOwner(12345, 1), 0);
});
