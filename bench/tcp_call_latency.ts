/**
 * @module Call setup latency over TCP at a low rate, sipws and Kamailio side by side: the
 * open-loop call load of bench/open_loop.ts (sipp UAC → server → sipp UAS, INVITE → 407 →
 * ACK → INVITE with credentials → 100/180/200 → ACK → BYE) over TCP only, at
 * `--rates=50,100` (calls/s) for `--step-s=4` seconds each, after a 2 s warm-up; prints
 * each step with its p50/p99 (first INVITE → 200). For checking stream latency (Nagle,
 * write queues) without the whole ladder. `--no-kamailio` runs sipws alone. Not part of the
 * product; every sipp run is bounded.
 */
import { formatStep, runLoad } from "./support/sipp_ladder.ts";
import { CALL_LOAD, startCallee } from "./support/call_load.ts";
import { startServers, stopServers } from "./open_loop.ts";
import { arg } from "./support/args.ts";
import type { SippRun } from "../tests/support/sipp.ts";

const rates = (arg("rates") ?? "50,100").split(",").map(Number);
const stepS = Number(arg("step-s") ?? 4);
const set = await startServers(!Deno.args.includes("--no-kamailio"));
const callees: SippRun[] = [];
try {
  for (const s of set.servers) callees.push(await startCallee(s, "tcp"));
  for (const s of set.servers) {
    await runLoad(s, { transport: "tcp", load: CALL_LOAD, rate: rates[0], durationS: 2 });
  }
  for (const rate of rates) {
    for (const s of set.servers) {
      const step = await runLoad(s, { transport: "tcp", load: CALL_LOAD, rate, durationS: stepS });
      console.log(formatStep(step));
    }
  }
  if (set.kamailioSkipped) console.log(`kamailio: skipped (${set.kamailioSkipped})`);
} finally {
  for (const c of callees) await c.stop();
  await stopServers(set);
}
