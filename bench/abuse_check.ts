/**
 * @module Per-message cost of the abuse check (`AbuseGuard.checkMessage`, run on every
 * inbound message before parsing), in CPU ns per call, given the clock read the transport
 * makes anyway for `receivedAt` (the first row prices that read itself), for: guard
 * disabled; one trusted source; one counted source below the limit; 100,000 distinct
 * sources in rotation (a spoofed flood: each new source costs a table insert and, once
 * full, a batch eviction); a stream connection (counted per address and per connection); and
 * with 10,000 bans in force; and with several workers' shared per-source table
 * (source_table.ts: a hash and a spin lock in a SharedArrayBuffer) for one source and for
 * 100,000 in rotation. Also prints the table sizes after the flood, to show the
 * bound holds. Run `deno run -A bench/abuse_check.ts [--n=2000000]`. Not part of the product.
 */
import { cpuUsage } from "node:process";
import { CidrSet } from "../src/sip/cidr.ts";
import { AbuseGuard, type AbuseOptions } from "../src/transport/abuse_guard.ts";
import { SourceTable } from "../src/transport/source_table.ts";
import { arg } from "./support/args.ts";

const N = Number(arg("n") ?? 2_000_000);

function options(over: Partial<AbuseOptions> = {}): AbuseOptions {
  return {
    enabled: true,
    banAfter: 10,
    banWindowMs: 60_000,
    banTimeMs: 600_000,
    rateLimit: 1_000_000_000,
    maxConnectionsPerSource: 100,
    maxConnections: 50_000,
    trusted: new CidrSet(["10.0.0.0/8"]),
    goodSourceMs: 3_600_000,
    ...over,
  };
}

const hosts = Array.from(
  { length: 100_000 },
  (_, i) => `192.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
);

/**
 * CPU ns (user + system, not wall time: the box is shared) per call of `fn(i)` over N calls,
 * after a warm-up of N/10.
 */
function measure(fn: (i: number) => number): number {
  let sink = 0;
  for (let i = 0; i < N / 10; i++) sink += fn(i);
  const c0 = cpuUsage();
  for (let i = 0; i < N; i++) sink += fn(i);
  const c1 = cpuUsage(c0);
  const ns = ((c1.user + c1.system) * 1000) / N;
  if (sink < 0) console.log(sink); // keeps the calls from being optimized away
  return Math.round(ns * 10) / 10;
}

const rows: [string, number][] = [];
// The clock read the transport shares with the check (`receivedAt`); not part of its cost.
rows.push(["Date.now() alone (shared, for scale)", measure(() => Date.now() & 1)]);
const T = Date.now();
const disabled = new AbuseGuard(options({ enabled: false }));
rows.push(["disabled", measure(() => disabled.checkMessage("192.0.2.1", undefined, true, T))]);
const trusted = new AbuseGuard(options());
rows.push([
  "one trusted source",
  measure(() => trusted.checkMessage("10.1.1.1", undefined, true, T)),
]);
const one = new AbuseGuard(options());
rows.push(["one counted source", measure(() => one.checkMessage("192.0.2.1", undefined, true, T))]);
const stream = new AbuseGuard(options());
rows.push([
  "one counted source, stream connection",
  measure(() => stream.checkMessage("192.0.2.1", "tcp:7", true, T)),
]);
const flood = new AbuseGuard(options({ maxEntries: 50_000 }));
rows.push([
  "100k sources rotating, table bound 50k",
  measure((i) => flood.checkMessage(hosts[i % hosts.length], undefined, true, T)),
]);
const shared = new AbuseGuard(options(), Date.now, new SourceTable(100_000));
rows.push([
  "one counted source, workers' shared table",
  measure(() => shared.checkMessage("192.0.2.1", undefined, true, T)),
]);
const sharedFlood = new AbuseGuard(options(), Date.now, new SourceTable(100_000));
rows.push([
  "100k sources rotating, shared table",
  measure((i) => sharedFlood.checkMessage(hosts[i % hosts.length], undefined, true, T)),
]);
const banned = new AbuseGuard(options());
for (let i = 0; i < 10_000; i++) {
  for (let f = 0; f < 10; f++) banned.recordFailure(hosts[i], "u", "d");
}
rows.push([
  "10k bans in force, unbanned source",
  measure(() => banned.checkMessage("198.51.100.1", undefined, true, T)),
]);
rows.push([
  "10k bans in force, banned source",
  measure((i) => banned.checkMessage(hosts[i % 10_000], undefined, true, T)),
]);

for (const [name, ns] of rows) console.log(`${name.padEnd(40)} ${String(ns).padStart(6)} ns/check`);
console.log(`tables after the flood: ${JSON.stringify(flood.sizes())}`);
console.log(`bans held: ${banned.bans().length}`);
