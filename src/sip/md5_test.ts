import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { md5Hex, md5HexJoined, md5JoinedEqualsHex } from "./md5.ts";
import { RFC1321_SUITE } from "./fixtures_test.ts";

Deno.test("md5: RFC 1321 test suite", () => {
  for (const [text, hex] of RFC1321_SUITE) assert.equal(md5Hex(text), hex, JSON.stringify(text));
});

Deno.test("md5 equals node:crypto over lengths 0..300, ASCII and non-ASCII", () => {
  const alphabet = 'abcXYZ09:@"é€😀';
  for (let n = 0; n <= 300; n++) {
    let ascii = "";
    let mixed = "";
    for (let i = 0; i < n; i++) {
      ascii += String.fromCharCode(32 + ((i * 37 + n) % 95));
      mixed += alphabet[(i * 7 + n) % alphabet.length];
    }
    for (const text of [ascii, mixed]) {
      assert.equal(md5Hex(text), createHash("md5").update(text, "utf8").digest("hex"), text);
    }
  }
});

Deno.test("md5HexJoined hashes the parts joined by ':', ASCII or not", () => {
  const cases: string[][] = [[""], ["", ""], ["a", "b", "c"], ["alice", "é.example", "😀"], [
    "x".repeat(70),
    "y",
  ]];
  for (const parts of cases) assert.equal(md5HexJoined(parts), md5Hex(parts.join(":")));
});

Deno.test("md5: a hex digest is checked in either case without formatting the expected one", () => {
  const parts = ["6629fae49393a05397450978507c4ef1", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "ha2"];
  const hex = md5HexJoined(parts);
  assert.ok(md5JoinedEqualsHex(parts, hex));
  assert.ok(md5JoinedEqualsHex(parts, hex.toUpperCase()));
  assert.ok(!md5JoinedEqualsHex(parts, hex.slice(0, 31)), "too short");
  assert.ok(!md5JoinedEqualsHex(parts, hex + "0"), "too long");
  const last = hex[31] === "0" ? "1" : "0";
  assert.ok(!md5JoinedEqualsHex(parts, hex.slice(0, 31) + last), "one digit off");
  assert.ok(!md5JoinedEqualsHex(parts, "g" + hex.slice(1)), "not hex");
  assert.ok(!md5JoinedEqualsHex(["other"], hex));
});

Deno.test("md5 equals node:crypto past the first scratch buffer (4 KiB, 20 KiB)", () => {
  for (const n of [4096, 20_000]) {
    const text = Array.from({ length: n }, (_, i) => String.fromCharCode(33 + (i % 90))).join("");
    assert.equal(md5Hex(text), createHash("md5").update(text, "utf8").digest("hex"));
    assert.equal(md5Hex("é" + text), createHash("md5").update("é" + text, "utf8").digest("hex"));
  }
});
