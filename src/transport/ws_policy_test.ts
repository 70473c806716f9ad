import assert from "node:assert/strict";
import { admission, hostOf, originMatcher } from "./ws_policy.ts";

Deno.test("origin allow-list: exact origins and *. patterns", () => {
  const ok = originMatcher(["https://app.example.com", "https://*.example.org:8443"]);
  assert.equal(ok("https://app.example.com"), true);
  assert.equal(ok("HTTPS://APP.EXAMPLE.COM"), true);
  assert.equal(ok("http://app.example.com"), false, "scheme counts");
  assert.equal(ok("https://app.example.com:444"), false, "port counts");
  assert.equal(ok("https://a.example.org:8443"), true);
  assert.equal(ok("https://a.b.example.org:8443"), true);
  assert.equal(ok("https://example.org:8443"), false, "* needs at least one label");
  assert.equal(ok("https://evil.com/.example.org:8443"), false);
  assert.equal(ok("https://a.example.org"), false);
  assert.equal(ok(undefined), false, "no Origin with a list set");
  assert.equal(originMatcher([])(undefined), true, "empty list allows all");
});

Deno.test("Host header host part", () => {
  assert.equal(hostOf("Example.COM:8080"), "example.com");
  assert.equal(hostOf("[::1]:8443"), "::1");
  assert.equal(hostOf("127.0.0.1"), "127.0.0.1");
});

Deno.test("admission: disabled first, then Origin, Host; CORS headers", () => {
  let enabled = true;
  const served = (h: string) => h === "sip.example.com";
  const admit = admission(
    { allowedOrigins: ["https://*.example.com"], checkHost: true, cors: "origin" },
    served,
    () => enabled,
  );
  const h = (origin: string, host: string) => new Headers({ origin, host });
  assert.deepEqual(admit(h("https://web.example.com", "sip.example.com:443")), {
    ok: true,
    headers: { "access-control-allow-origin": "https://web.example.com", vary: "Origin" },
  });
  assert.equal(
    (admit(h("https://evil.com", "sip.example.com")) as { reason: string }).reason,
    "origin",
  );
  assert.equal((admit(h("https://web.example.com", "other")) as { reason: string }).reason, "host");
  enabled = false;
  const off = admit(h("https://web.example.com", "sip.example.com"));
  assert.equal(off.ok, false);
  assert.equal(!off.ok && off.status, 503);
  const any = admission({ allowedOrigins: [], checkHost: false, cors: "any" }, served, () => true);
  assert.deepEqual(any(new Headers()), {
    ok: true,
    headers: { "access-control-allow-origin": "*" },
  });
  const none = admission(
    { allowedOrigins: [], checkHost: false, cors: "none" },
    served,
    () => true,
  );
  assert.deepEqual(none(h("https://x", "y")), { ok: true, headers: {} });
});
