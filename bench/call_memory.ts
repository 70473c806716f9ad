/**
 * @module Memory held per finished call by an in-process sipws (default timers: T1 = 500 ms,
 * so the INVITE transactions' Timer L/M keep them 32 s after the 200): bob registers with
 * digest, then N calls from a foreign-domain caller run INVITE → 180 → 200 → ACK → BYE →
 * 200 through the proxy over UDP (bench/support/in_process_call.ts: the transport's `send`
 * hands the serialized bytes back, no sockets). After a full GC it prints heap growth per call and
 * the live server/client transactions and dialogs. `--local`: the caller is of our domain,
 * so each call starts INVITE → 407 → ACK as in the open-loop bench; `--answer=486` (any
 * 300-699): bob declines each call after the 180 instead (the proxy ACKs him, the caller
 * ACKs the proxy: Timer D, and the server's Completed/Confirmed). Run with
 * `deno run -A --v8-flags=--expose-gc bench/call_memory.ts [--n=N] [--root=DIR] [--local]
 * [--answer=486]`
 * (`--root` measures another checkout, A/B). Not part of the product.
 */
import { arg } from "./support/args.ts";
import { gc } from "./support/fake_sender.ts";
import { startCallRig } from "./support/in_process_call.ts";

const root = arg("root") ?? new URL("..", import.meta.url).pathname;
const N = Number(arg("n") ?? 5000);
const LOCAL = Deno.args.includes("--local");
const FINAL = Number(arg("answer") ?? 200);
const SDP = "v=0\r\n" + "a=candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host\r\n".repeat(24);

const rig = await startCallRig(root);
const call = (i: number) => rig.call(i, SDP, LOCAL, FINAL);
const server = rig.server;

const mb = (b: number) => Math.round(b / 1024 / 102.4) / 10;
try {
  for (let i = 0; i < 200; i++) call(-1 - i); // warm-up (JIT, tables)
  await new Promise((r) => setTimeout(r, 50));
  gc();
  const m0 = Deno.memoryUsage();
  for (let i = 0; i < N; i++) {
    call(i);
    if (i % 500 === 0) await new Promise((r) => setTimeout(r, 0));
  }
  for (let i = 0; i < 2; i++) {
    await new Promise((r) => setTimeout(r, 100));
    gc();
  }
  const m1 = Deno.memoryUsage();
  const tx = server.transactions.stats();
  console.log(JSON.stringify({
    root,
    calls: N,
    local: LOCAL,
    answer: FINAL,
    live_server_tx: tx.server,
    live_client_tx: tx.client,
    completed_ring: tx.completed,
    heap_delta_mb: mb(m1.heapUsed - m0.heapUsed),
    heap_bytes_per_call: Math.round((m1.heapUsed - m0.heapUsed) / N),
    external_bytes_per_call: Math.round((m1.external - m0.external) / N),
  }));
} finally {
  await rig.stop();
}
