import assert from "node:assert/strict";
import { formatNameAddr, parseNameAddr } from "./name_addr.ts";
import { NO_PARAMS, parseParams, splitTopLevel, unquote } from "./params.ts";
import { formatUri, parseUri } from "./uri.ts";
import { formatVia, parseVia } from "./via.ts";
import { reasonOf } from "./fixtures_test.ts";

Deno.test("uri: user, password, host, port, params, headers", () => {
  const u = parseUri("sips:Alice:secret@Atlanta.Example.COM:5061;transport=tcp;lr?subject=x&h=y");
  assert.equal(u.scheme, "sips");
  assert.equal(u.user, "Alice");
  assert.equal(u.password, "secret");
  assert.equal(u.host, "atlanta.example.com");
  assert.equal(u.port, 5061);
  assert.deepEqual([...u.params], [["transport", "tcp"], ["lr", null]]);
  assert.equal(u.headers, "subject=x&h=y");
  assert.equal(
    formatUri(u),
    "sips:Alice:secret@atlanta.example.com:5061;transport=tcp;lr?subject=x&h=y",
  );
});

Deno.test("uri: escapes decode in the user part; '@' ends userinfo", () => {
  assert.equal(parseUri("sip:%61lice@h").user, "alice");
  assert.equal(parseUri("sip:user;par=u%40example.net@example.com").user, "user;par=u@example.net");
  assert.equal(parseUri("sip:a?b,c@h").user, "a?b,c");
  assert.equal(formatUri(parseUri("sip:I%20have@h")), "sip:I%20have@h");
});

Deno.test("uri: a value without parameters shares the read-only NO_PARAMS", () => {
  const u = parseUri("sip:alice@example.test");
  assert.equal(u.params, NO_PARAMS);
  assert.equal(parseNameAddr("<sip:bob@example.test>").params, NO_PARAMS);
  assert.equal(parseVia("SIP/2.0/UDP h").params, NO_PARAMS);
  assert.throws(() => u.params.set("lr", null), TypeError);
  assert.throws(() => u.params.delete("lr"), TypeError);
  assert.equal(NO_PARAMS.size, 0, "a refused write leaves it empty");
  const copy = new Map(u.params);
  copy.set("lr", null);
  assert.equal(copy.size, 1, "a copy is an ordinary Map");
});

Deno.test("uri: IPv6 references and other schemes", () => {
  const u = parseUri("sip:[2001:DB8::1]:5060");
  assert.equal(u.host, "2001:db8::1");
  assert.equal(formatUri(u), "sip:[2001:db8::1]:5060");
  assert.deepEqual(parseUri("tel:+1-201-555-0123"), {
    scheme: "tel",
    host: "+1-201-555-0123",
    params: NO_PARAMS,
  });
  for (
    const bad of [
      "sip:[::1",
      "sip:[zz::]",
      "sip:h:70000",
      "sip:h:",
      "sip: h",
      "sip:",
      "nocolon",
      "sip:@h",
      "s p:x",
    ]
  ) {
    assert.ok(reasonOf(() => parseUri(bad)).startsWith("Bad"), bad);
  }
});

Deno.test("params: LWS around '=', quoted values, empty params rejected", () => {
  assert.deepEqual([...parseParams(" tag = 1 ; lr ;q=0.5")], [["tag", "1"], ["lr", null], [
    "q",
    "0.5",
  ]]);
  assert.equal(parseParams(';x="a;b,c"').get("x"), '"a;b,c"');
  assert.equal(reasonOf(() => parseParams("a;;b")), "Bad parameter");
  assert.equal(reasonOf(() => parseParams("a=")), "Bad parameter");
  assert.equal(reasonOf(() => parseParams("a=b c")), "Bad parameter");
  assert.equal(reasonOf(() => parseParams('a="open')), "Unterminated quoted string");
  assert.equal(reasonOf(() => parseParams("b@d=1", true)), "Bad parameter");
});

Deno.test("name-addr: quoted and token display names, addr-spec params", () => {
  const a = parseNameAddr('"A \\"B\\" C" <sip:a@h>;tag=1;+sip.instance="<urn:uuid:x>"');
  assert.equal(a.displayName, 'A "B" C');
  assert.equal(a.params.get("+sip.instance"), '"<urn:uuid:x>"');
  assert.equal(formatNameAddr(a), '"A \\"B\\" C" <sip:a@h>;tag=1;+sip.instance="<urn:uuid:x>"');
  const b = parseNameAddr("Bob Smith<sip:b@h>");
  assert.equal(b.displayName, "Bob Smith");
  const c = parseNameAddr("sip:c@h;tag=9");
  assert.equal(c.params.get("tag"), "9");
  assert.equal(c.uri.params.size, 0);
  assert.ok(parseNameAddr(" * ").wildcard);
  assert.equal(reasonOf(() => parseNameAddr("Bell, A <sip:a@h>")), "Bad display name");
  assert.equal(reasonOf(() => parseNameAddr('"open <sip:a@h>')), "Bad display name");
  assert.equal(reasonOf(() => parseNameAddr("<sip:a@h> x")), "Bad name-addr");
  assert.equal(reasonOf(() => parseNameAddr("sip:a@h?x=1")), "Bad addr-spec");
  assert.equal(reasonOf(() => parseNameAddr("")), "Bad name-addr");
  assert.equal(unquote('"a\\\\b"'), "a\\b");
});

Deno.test("via: LWS around slashes, IPv6, params; format back", () => {
  const v = parseVia("SIP / 2.0 / udp  [::1]:5060 ; branch = z9hG4bKx ; rport");
  assert.deepEqual(v, {
    transport: "UDP",
    host: "::1",
    port: 5060,
    params: new Map<string, string | null>([["branch", "z9hG4bKx"], ["rport", null]]),
  });
  assert.equal(formatVia(v), "SIP/2.0/UDP [::1]:5060;branch=z9hG4bKx;rport");
  for (
    const bad of [
      "SIP/2.0/UDP",
      "SIP/3.0/UDP h",
      "HTTP/2.0/UDP h",
      "SIP/2.0 h",
      "SIP/2.0/UDP h x",
      "SIP/2.0/UDP h;;",
    ]
  ) {
    assert.equal(reasonOf(() => parseVia(bad)).startsWith("Bad"), true, bad);
  }
});

Deno.test("splitTopLevel: respects quotes, brackets and escapes", () => {
  assert.deepEqual(splitTopLevel('"a,\\"b" <c,d>, e', ","), ['"a,\\"b" <c,d>', " e"]);
  assert.deepEqual(splitTopLevel("a,b", ","), ["a", "b"]);
  assert.equal(reasonOf(() => splitTopLevel('"a, b', ",")), "Unterminated quoted string");
});
