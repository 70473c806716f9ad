/**
 * @module CPU cost of one proxied call in sipws without sockets, the call of the open-loop
 * bench: alice of our domain calls bob over UDP, INVITE → 407 → ACK → INVITE with
 * Proxy-Authorization → 180 → 200 → ACK → BYE → 200, through an in-process server
 * (bench/support/in_process_call.ts: real transport parsing, transactions, sanity, digest,
 * location, proxy, dialogs; the transport's `send` serializes and hands the bytes back).
 * Reports CPU (process, and its main thread alone) and wall µs per call (the driver's own
 * work included: building and matching the messages, the client digest; it is the same for
 * every tree). `--root=DIR` (repeatable) measures other checkouts (this checkout's driver
 * over each tree's server), one fresh process per tree and round, trees alternating (A/B on
 * a shared box); `--n=N` calls per round (default 10 000) after a warm-up of 2,000;
 * `--rounds=R` (default 3). `--alloc-sites` (`=promoted`: only what outlived a scavenge)
 * prints where the heap is allocated per call instead (V8's sampling heap profiler over `n`
 * calls of the first root, driver included). Run `deno run -A bench/call_path.ts`; profile
 * with `--cpu-prof`. Not part of the product.
 */
import { ownThreadTicks, processTicks } from "./support/proc.ts";
import { arg, argAll } from "./support/args.ts";
import { type CallRig, startCallRig } from "./support/in_process_call.ts";
import { printSites, startHeapSampling } from "./support/heap_sampling.ts";

const roots = argAll("root").length ? argAll("root") : [new URL("..", import.meta.url).pathname];
const N = Number(arg("n") ?? 10_000);
const ROUNDS = Number(arg("rounds") ?? 3);
/** The SDP of bench/scenarios/uac_auth_call.xml. */
const SDP = "v=0\r\no=caller 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n" +
  "c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

/** One tree, in this process: warm-up, then `ROUNDS` measured rounds of `N` calls. */
async function measure(root: string): Promise<void> {
  // This checkout's driver for every tree: only the server under it differs.
  const rig: CallRig = await startCallRig(root);
  let next = 0;
  try {
    for (let i = 0; i < 2000; i++) rig.call(next++, SDP, true); // warm-up (JIT, tables)
    for (let round = 0; round < ROUNDS; round++) {
      const t0 = performance.now();
      const ticks0 = processTicks(Deno.pid);
      const mainTicks0 = ownThreadTicks(); // a Worker's own in one (bench/isolate_cost.ts)
      for (let i = 0; i < N; i++) {
        rig.call(next++, SDP, true);
        // Let timers and microtasks run now and then, as between datagrams.
        if (i % 200 === 0) await new Promise((res) => setTimeout(res, 0));
      }
      const us = ((performance.now() - t0) * 1000) / N;
      // CPU time, not wall time: steadier on a machine shared with other work.
      const cpuUs = ((processTicks(Deno.pid) - ticks0) * 10_000) / N;
      const mainUs = ((ownThreadTicks() - mainTicks0) * 10_000) / N;
      console.log(JSON.stringify({
        root,
        round,
        calls: N,
        us_per_call: Math.round(us * 10) / 10,
        cpu_us_per_call: Math.round(cpuUs * 10) / 10,
        main_thread_cpu_us_per_call: Math.round(mainUs * 10) / 10,
      }));
    }
  } finally {
    await rig.stop();
  }
}

/** Heap allocated per call by site, after the warm-up (see `--alloc-sites`). */
async function allocationSites(root: string): Promise<void> {
  const rig: CallRig = await startCallRig(root);
  try {
    for (let i = 0; i < 2000; i++) rig.call(i, SDP, true);
    const stop = await startHeapSampling(arg("alloc-sites") === "promoted");
    for (let i = 0; i < N; i++) {
      rig.call(2000 + i, SDP, true);
      if (i % 200 === 0) await new Promise((res) => setTimeout(res, 0));
    }
    printSites(`${root} per call`, await stop(), N);
  } finally {
    await rig.stop();
  }
}

if (Deno.args.some((a) => a === "--alloc-sites" || a.startsWith("--alloc-sites="))) {
  await allocationSites(roots[0]);
} else if (roots.length === 1) {
  await measure(roots[0]);
} else {
  // Several trees: one fresh process per tree and round, trees alternating, so each has a
  // heap and timers of its own and background load falls on all of them alike.
  for (let round = 0; round < ROUNDS; round++) {
    for (const root of roots) {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", import.meta.filename!, `--root=${root}`, `--n=${N}`, "--rounds=1"],
        stdout: "inherit",
        stderr: "inherit",
      });
      const { code } = await child.output();
      if (code !== 0) throw new Error(`${root}: exit ${code}`);
    }
  }
}
