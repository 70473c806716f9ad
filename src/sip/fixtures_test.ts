/**
 * @module Shared helpers for the src/sip unit tests: catching a SipParseError and giving its
 * reason. Test-only; imported by the *_test.ts files beside it, never by production code.
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
