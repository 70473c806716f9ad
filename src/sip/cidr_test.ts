import assert from "node:assert/strict";
import { addressGroups, CidrSet, parseCidr } from "./cidr.ts";

Deno.test("CIDR membership for IPv4, IPv6 and IPv4-mapped addresses", () => {
  const set = new CidrSet(["10.0.0.0/8", "192.168.1.7", "2001:db8::/32", "127.0.0.2/32"]);
  assert.ok(set.has("10.200.3.4"));
  assert.ok(!set.has("11.0.0.1"));
  assert.ok(set.has("192.168.1.7"));
  assert.ok(!set.has("192.168.1.8"));
  assert.ok(set.has("2001:db8:1::5"));
  assert.ok(set.has("[2001:DB8::1]"));
  assert.ok(!set.has("2001:db9::1"));
  assert.ok(set.has("::ffff:10.1.2.3"));
  assert.ok(set.has("127.0.0.2"));
  assert.ok(!set.has("127.0.0.3"));
  assert.ok(!set.has("example.com"));
  assert.ok(new CidrSet(["0.0.0.0/0"]).has("8.8.8.8"));
  assert.ok(!new CidrSet(["0.0.0.0/0"]).has("::1"));
  assert.ok(new CidrSet(["10.1.2.0/23"]).has("10.1.3.255"));
  assert.ok(!new CidrSet(["10.1.2.0/23"]).has("10.1.4.0"));
  assert.ok(!new CidrSet([]).has("10.0.0.1"));
});

Deno.test("CIDR parse errors say what is wrong", () => {
  assert.throws(() => parseCidr("10.0.0.0/33"), /prefix length must be 0-32/);
  assert.throws(() => parseCidr("::/129"), /prefix length must be 0-128/);
  assert.throws(() => parseCidr("example.com/8"), /not an IPv4 or IPv6/);
  assert.throws(() => parseCidr("10.0.0.256"), /not an IPv4 or IPv6/);
  assert.throws(() => parseCidr("1::2::3"), /not an IPv4 or IPv6/);
  assert.throws(() => parseCidr("10.0.0.0/8/9"), /one '\/' at most/);
  assert.deepEqual(addressGroups("::1"), [0, 0, 0, 0, 0, 0, 0, 1]);
  assert.deepEqual(addressGroups("1:2:3:4:5:6:7:8"), [1, 2, 3, 4, 5, 6, 7, 8]);
});
