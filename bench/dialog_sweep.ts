/**
 * @module CPU of the dialog tracker (src/core/dialogs.ts) at a call rate, without the
 * proxy: 2,400 calls a second of simulated time (`--rate=R`), each an initial INVITE then
 * its BYE, for 80 s, and the server's once-a-second `sweep()`, so ~72,000 terminated
 * dialogs linger for their 30 s. Prints the ms each sweep takes and µs per call (sweep
 * alone, and everything). `--root=DIR` (repeatable) measures other checkouts, alternating
 * (A/B on a shared box), `--rounds=R` (default 3). Run `deno run -A bench/dialog_sweep.ts`.
 * Not part of the product.
 */
import { arg, argAll } from "./support/args.ts";
import { BENCH_FLOW } from "./support/fake_sender.ts";

const roots = argAll("root").length ? argAll("root") : [new URL("..", import.meta.url).pathname];
const RATE = Number(arg("rate") ?? 2400);
const ROUNDS = Number(arg("rounds") ?? 3);
const SECONDS = 80;
const enc = new TextEncoder();

async function measure(root: string): Promise<void> {
  const { DialogTracker } = await import(`${root}/src/core/dialogs.ts`);
  const { parseMessage } = await import(`${root}/src/sip/parse.ts`);
  let now = 0;
  const tracker = new DialogTracker({ now: () => now });
  const flow = BENCH_FLOW;
  const request = (i: number) =>
    parseMessage(enc.encode(
      `INVITE sip:bob@example.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:41000;branch=z9hG4bK${i}\r\n` +
        `From: <sip:alice@example.test>;tag=a${i}\r\nTo: <sip:bob@example.test>\r\n` +
        `Call-ID: c${i}@bench\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n`,
    ));
  const calls = (SECONDS * RATE) | 0;
  // Parsed up front (and From/To read): only the tracker's work is timed.
  const requests = Array.from({ length: calls }, (_, i) => request(i));
  for (const r of requests) void (r.from.uri.host + r.to.uri.host);
  let sweepMs = 0;
  let sweeps = 0;
  let i = 0;
  const t0 = performance.now();
  for (let ms = 0; ms < SECONDS * 1000; ms++) {
    now = ms;
    for (; i < (ms * RATE) / 1000; i++) {
      tracker.invite(requests[i], flow);
      tracker.ended(requests[i]);
    }
    if (ms % 1000 === 0) {
      const s = performance.now();
      tracker.sweep();
      sweepMs += performance.now() - s;
      sweeps++;
    }
  }
  const total = performance.now() - t0;
  console.log(JSON.stringify({
    root,
    calls: i,
    lingering: tracker.list().length,
    ms_per_sweep: Math.round((sweepMs / sweeps) * 100) / 100,
    sweep_us_per_call: Math.round((sweepMs * 1000 / i) * 100) / 100,
    us_per_call: Math.round((total * 1000 / i) * 100) / 100,
  }));
}

if (roots.length === 1 && ROUNDS === 1) {
  await measure(roots[0]);
} else {
  for (let round = 0; round < ROUNDS; round++) {
    for (const root of roots) {
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          import.meta.filename!,
          `--root=${root}`,
          `--rate=${RATE}`,
          "--rounds=1",
        ],
        stdout: "inherit",
        stderr: "inherit",
      });
      const { code } = await child.output();
      if (code !== 0) throw new Error(`${root}: exit ${code}`);
    }
  }
}
