/**
 * @module CPU cost of one proxied call in sipws without sockets, the call of the open-loop
 * bench: alice of our domain calls bob over UDP, INVITE → 407 → ACK → INVITE with
 * Proxy-Authorization → 180 → 200 → ACK → BYE → 200, through an in-process server
 * (bench/support/in_process_call.ts: real transport parsing, transactions, sanity, digest,
 * location, proxy, dialogs; the transport's `send` serializes and hands the bytes back).
 * Reports CPU and wall µs per call (the driver's own work included: building and matching
 * the messages, the client digest; it is the same for every tree). `--root=DIR` (repeatable)
 * measures other checkouts in alternating rounds (A/B on a shared box); `--n=N` calls per
 * round (default 10 000) after a warm-up; `--rounds=R` (default 3). Run
 * `deno run -A bench/call_path.ts`; profile with `--cpu-prof`. Not part of the product.
 */
import { processTicks } from "./support/proc.ts";
import { arg, argAll } from "./support/args.ts";
import type { CallRig } from "./support/in_process_call.ts";

const roots = argAll("root").length ? argAll("root") : [new URL("..", import.meta.url).pathname];
const N = Number(arg("n") ?? 10_000);
const ROUNDS = Number(arg("rounds") ?? 3);
/** The SDP of bench/scenarios/uac_auth_call.xml. */
const SDP = "v=0\r\no=caller 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n" +
  "c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

const rigs: CallRig[] = [];
let next = 0;
try {
  for (const root of roots) {
    // Each tree drives the rig of its own checkout (so a tree that changed it is measured right).
    const { startCallRig } = await import(`${root}/bench/support/in_process_call.ts`).catch(() =>
      import("./support/in_process_call.ts")
    );
    const rig: CallRig = await startCallRig(root);
    for (let i = 0; i < 2000; i++) rig.call(next++, SDP, true); // warm-up (JIT, tables)
    rigs.push(rig);
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const [r, rig] of rigs.entries()) {
      const t0 = performance.now();
      const ticks0 = processTicks(Deno.pid);
      for (let i = 0; i < N; i++) {
        rig.call(next++, SDP, true);
        // Let timers and microtasks run now and then, as between datagrams.
        if (i % 200 === 0) await new Promise((res) => setTimeout(res, 0));
      }
      const us = ((performance.now() - t0) * 1000) / N;
      // CPU time, not wall time: steadier on a machine shared with other work.
      const cpuUs = ((processTicks(Deno.pid) - ticks0) * 10_000) / N;
      console.log(JSON.stringify({
        root: roots[r],
        round,
        calls: N,
        us_per_call: Math.round(us * 10) / 10,
        cpu_us_per_call: Math.round(cpuUs * 10) / 10,
      }));
    }
  }
} finally {
  for (const rig of rigs) await rig.stop();
}
