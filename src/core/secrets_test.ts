import assert from "node:assert/strict";
import { defaultConfig } from "../config/config.ts";
import { deriveKeys, randomSecret } from "./secrets.ts";

Deno.test("secrets: a configured secret gives every process the same keys; unset, each its own", () => {
  const sip = { ...defaultConfig().sip, secret: "s3cret", previousSecret: "old" };
  const a = deriveKeys(sip, randomSecret());
  const b = deriveKeys(sip, randomSecret());
  assert.deepEqual(a, b, "two workers with one config agree");
  assert.notDeepEqual(a.flowTokens.current, a.nonces.current, "one key per purpose");
  assert.deepEqual(
    deriveKeys({ ...sip, secret: "old", previousSecret: undefined }, randomSecret())
      .nonces.current,
    a.nonces.previous,
  );
  const unset = defaultConfig().sip;
  const c = deriveKeys(unset, randomSecret());
  const d = deriveKeys(unset, randomSecret());
  assert.notDeepEqual(c.flowTokens.current, d.flowTokens.current);
  assert.equal(c.nonces.previous, undefined);
});
