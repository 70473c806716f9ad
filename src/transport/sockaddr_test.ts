import assert from "node:assert/strict";
import { sockaddr } from "./sockaddr.ts";

Deno.test("sockaddr: IPv4, IPv4 on an IPv6 socket (v4-mapped), IPv6 with ::, names refused", () => {
  assert.deepEqual([...sockaddr("127.0.0.1", 5060, "v4")!], [
    2,
    0,
    0x13,
    0xc4,
    127,
    0,
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
  ]);
  const mapped = sockaddr("10.1.2.3", 5060, "v6")!;
  assert.equal(mapped.length, 28);
  assert.deepEqual([...mapped.subarray(0, 4)], [10, 0, 0x13, 0xc4]);
  assert.deepEqual([...mapped.subarray(8, 24)], [
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    255,
    255,
    10,
    1,
    2,
    3,
  ]);
  const v6 = sockaddr("[2001:db8::1]", 1, "v6")!;
  assert.deepEqual([...v6.subarray(8, 24)], [
    0x20,
    0x01,
    0x0d,
    0xb8,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    1,
  ]);
  assert.deepEqual([...sockaddr("::ffff:1.2.3.4", 1, "v6")!.subarray(20, 24)], [1, 2, 3, 4]);
  assert.equal(sockaddr("example.test", 5060, "v4"), undefined);
  assert.equal(sockaddr("::1", 5060, "v4"), undefined);
  assert.equal(sockaddr("1.2.3.256", 5060, "v4"), undefined);
});
