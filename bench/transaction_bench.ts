/**
 * @module Transaction layer benchmark: 100k INVITE server transactions, each answered 486 at
 * once so each holds Timer G and Timer H (200k live timers; T1 = 5 s so none fires during the
 * run), then ACKed (G and H cancelled, Timer I started), then the layer is closed. The same
 * load runs twice, each in its own process for a clean RSS: on the timer wheel and on the
 * naive setTimeout-per-timer scheduler; it reports ns/op, RSS and heap growth and the
 * baseline/wheel ratios. The sender is a fake (no sockets). Run
 * `deno run -A bench/transaction_bench.ts`; a bench driver imports `runTransactionBench`.
 * Prints one JSON line.
 */
import { createResponse, SipRequest } from "../src/sip/message.ts";
import { TransactionLayer } from "../src/transaction/layer.ts";
import { SetTimeoutScheduler } from "./support/set_timeout_scheduler.ts";
import { BENCH_FLOW, gc, InstantSender } from "./support/fake_sender.ts";
import { arg } from "./support/args.ts";

type Variant = "wheel" | "timeout";

function request(method: string, i: number): SipRequest {
  const req = new SipRequest(method, "sip:bob@example.com");
  req.append("Via", `SIP/2.0/UDP 10.0.${(i >> 8) & 255}.${i & 255}:5060;branch=z9hG4bKb${i}`);
  req.append("Max-Forwards", "70");
  req.append("From", `<sip:alice@example.com>;tag=f${i}`);
  req.append("To", method === "ACK" ? "<sip:bob@example.com>;tag=srv" : "<sip:bob@example.com>");
  req.append("Call-ID", `c${i}@bench`);
  req.append("CSeq", `1 ${method}`);
  return req;
}

const mb = (bytes: number) => Math.round(bytes / 1024 / 10.24) / 100;

/** Runs one variant in this process; returns its measurements. */
export async function runVariant(variant: Variant, n: number): Promise<Record<string, number>> {
  let sent = 0;
  const sender = new InstantSender(() => sent++);
  const layer = new TransactionLayer({
    sender,
    // T1 raised so no timer fires while 100k transactions are built, even on a busy machine
    // (5 s was passed there): this measures holding, scheduling and cancelling timers (what
    // scales with load), not retransmitting.
    t1: 60_000,
    t2: 60_000,
    t4: 60_000,
    scheduler: variant === "timeout" ? new SetTimeoutScheduler() : undefined,
  });
  layer.onRequest = (req, _flow, tx) => tx?.respond(createResponse(req, 486, undefined, "srv"));
  // Messages are built before measuring: the bench measures transactions and timers.
  const invites = Array.from({ length: n }, (_, i) => request("INVITE", i));
  const acks = Array.from({ length: n }, (_, i) => request("ACK", i));
  await new Promise((r) => setTimeout(r, 50));
  gc();
  const before = Deno.memoryUsage();

  let t0 = performance.now();
  for (let i = 0; i < n; i++) {
    layer.receive({ message: invites[i], flow: BENCH_FLOW, receivedAt: 0 });
  }
  const createMs = performance.now() - t0;
  const live = layer.stats().server;
  // Let the send promises settle as they would between datagrams, then measure live data.
  await new Promise((r) => setTimeout(r, 10));
  gc();
  const after = Deno.memoryUsage();

  t0 = performance.now();
  for (let i = 0; i < n; i++) layer.receive({ message: acks[i], flow: BENCH_FLOW, receivedAt: 0 });
  const ackMs = performance.now() - t0;
  const stillLive = layer.stats().server;

  t0 = performance.now();
  layer.close();
  const closeMs = performance.now() - t0;
  // One send per INVITE: the 486 answered in place goes without a 100 Trying (§17.2.1).
  if (live !== n || stillLive !== n || sent !== n) {
    throw new Error(
      `bench invariant broken: live=${live} afterAck=${stillLive} sent=${sent}`,
    );
  }
  return {
    create_ns_per_op: Math.round((createMs * 1e6) / n),
    ack_ns_per_op: Math.round((ackMs * 1e6) / n),
    close_ms: Math.round(closeMs * 10) / 10,
    rss_delta_mb: mb(after.rss - before.rss),
    heap_delta_mb: mb(after.heapUsed - before.heapUsed),
    rss_mb: mb(after.rss),
  };
}

async function runInChild(variant: Variant, n: number): Promise<Record<string, number>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--v8-flags=--expose-gc",
      new URL(import.meta.url).pathname,
      `--variant=${variant}`,
      `--n=${n}`,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`transaction bench child (${variant}) failed`);
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}

/** 100k INVITE server transactions on the wheel vs setTimeout-per-timer; one flat record. */
export async function runTransactionBench(n = 100_000): Promise<Record<string, number>> {
  const wheel = await runInChild("wheel", n);
  const timeout = await runInChild("timeout", n);
  const result: Record<string, number> = { tx_transactions: n, tx_live_timers: 2 * n };
  for (const [k, v] of Object.entries(wheel)) result[`tx_wheel_${k}`] = v;
  for (const [k, v] of Object.entries(timeout)) result[`tx_settimeout_${k}`] = v;
  const ratio = (a: number, b: number) => Math.round((a / Math.max(b, 1e-9)) * 100) / 100;
  result.tx_create_ratio_settimeout_over_wheel = ratio(
    timeout.create_ns_per_op,
    wheel.create_ns_per_op,
  );
  result.tx_ack_ratio_settimeout_over_wheel = ratio(timeout.ack_ns_per_op, wheel.ack_ns_per_op);
  result.tx_rss_ratio_settimeout_over_wheel = ratio(timeout.rss_delta_mb, wheel.rss_delta_mb);
  result.tx_heap_ratio_settimeout_over_wheel = ratio(timeout.heap_delta_mb, wheel.heap_delta_mb);
  return result;
}

if (import.meta.main) {
  const n = Number(arg("n") ?? 100_000);
  const variant = arg("variant") as Variant | undefined;
  const result = variant ? await runVariant(variant, n) : await runTransactionBench(n);
  console.log(JSON.stringify(result));
}
