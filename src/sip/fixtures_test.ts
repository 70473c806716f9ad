/**
 * @module Shared helpers for the src/sip unit tests: catching a SipParseError and giving its
 * reason, and RFC 1321's MD5 test suite (also checked against the bench's C generator). Test-only; imported by the *_test.ts files beside it, never by production code.
 */
import assert from "node:assert/strict";
import { SipParseError } from "./errors.ts";

/** Runs `fn`, which must throw a SipParseError, and returns the error's reason. */
export function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof SipParseError, `expected SipParseError, got ${e}`);
    return e.reason;
  }
  assert.fail("did not throw");
}

/** RFC 1321 appendix A.5: text → its MD5 in hex. */
export const RFC1321_SUITE: readonly [string, string][] = [
  ["", "d41d8cd98f00b204e9800998ecf8427e"],
  ["a", "0cc175b9c0f1b6a831c399e269772661"],
  ["abc", "900150983cd24fb0d6963f7d28e17f72"],
  ["message digest", "f96b697d7cb7938d525a2f31aaf161d0"],
  ["abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"],
  [
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    "d174ab98d277d9f5a5611c2c9f419d9f",
  ],
  ["1234567890".repeat(8), "57edf4a22be3c955ac49da2e2107b67a"],
];
