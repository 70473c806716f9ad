import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { HmacSha256, sha256, TruncatedPrefixMac } from "./sha256.ts";

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

Deno.test("sha256: FIPS 180-4 examples", () => {
  const enc = new TextEncoder();
  assert.equal(
    hex(sha256(enc.encode("abc"))),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assert.equal(
    hex(sha256(new Uint8Array(0))),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
});

Deno.test("sha256 and HMAC-SHA256 equal node:crypto for every length 0..300 and key 0..130", () => {
  for (let n = 0; n <= 300; n++) {
    const data = crypto.getRandomValues(new Uint8Array(n));
    assert.equal(hex(sha256(data)), createHash("sha256").update(data).digest("hex"), `len ${n}`);
  }
  for (const keyLength of [0, 1, 16, 32, 63, 64, 65, 130]) {
    const key = crypto.getRandomValues(new Uint8Array(keyLength));
    const hmac = new HmacSha256(key);
    for (let n = 0; n <= 140; n += 7) {
      const data = crypto.getRandomValues(new Uint8Array(n));
      // Twice: the keyed state must not be altered by a MAC.
      for (let k = 0; k < 2; k++) {
        assert.equal(
          hex(hmac.mac(data)),
          createHmac("sha256", key).update(data).digest("hex"),
          `key ${keyLength}, len ${n}`,
        );
      }
    }
  }
});

Deno.test("TruncatedPrefixMac is the head of SHA-256(key block | message)", () => {
  const key = new Uint8Array(32).map((_, i) => i * 7 + 1);
  const mac = new TruncatedPrefixMac(key);
  const block = new Uint8Array(64);
  block.set(key);
  for (const length of [0, 24, 55, 56, 64, 200]) {
    const message = new Uint8Array(length).map((_, i) => i ^ 0x5a);
    const full = createHash("sha256").update(block).update(message).digest();
    const out = mac.macInto(message, new Uint8Array(12), 12);
    assert.deepEqual([...out], [...full.subarray(0, 12)], `length ${length}`);
  }
  assert.throws(() => mac.macInto(new Uint8Array(1), new Uint8Array(32), 32), RangeError);
});
