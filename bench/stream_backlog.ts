/**
 * @module Memory a stream connection's write backlog keeps per queued message: a peer that
 * stopped reading (a callee or caller starved of CPU under load), `--messages=N` (default
 * 20 000) distinct parsed INVITEs sent to it through `TransportLayer.send` (serialization,
 * routing, the connection's real `WriteQueue` over a socket whose write never completes).
 * After two full GCs: heap and external (ArrayBuffer) bytes still held, per queued message;
 * the queued bytes themselves are the floor. One fresh process per tree and round
 * (`--root=DIR`, repeatable; default this checkout; `--rounds=N`, default 3), trees
 * alternating. Run `deno run -A bench/stream_backlog.ts --root=/work/main --root=.`.
 * Not part of the product.
 */
import { arg, argAll } from "./support/args.ts";
import { streamLayer } from "./support/stream_layer.ts";

const ROOTS = argAll("root").length ? argAll("root") : [new URL("../", import.meta.url).pathname];
const ROUNDS = Number(arg("rounds") ?? 3);
const MESSAGES = Number(arg("messages") ?? 20_000);
const ONE = arg("one");

const SDP = "v=0\r\no=caller 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n" +
  "c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

function invite(i: number): Uint8Array {
  return new TextEncoder().encode(
    `INVITE sip:bob@127.0.0.1:40000;transport=tcp SIP/2.0\r\n` +
      `Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-p-${i}\r\n` +
      `Via: SIP/2.0/TCP 127.0.0.1:41000;branch=z9hG4bK-u-${i};received=127.0.0.1;rport=41000\r\n` +
      `Record-Route: <sip:127.0.0.1:5060;transport=tcp;lr>\r\n` +
      `Max-Forwards: 69\r\nFrom: <sip:bench@example.test>;tag=f${i}\r\n` +
      `To: <sip:bob@example.test>\r\nCall-ID: call-${i}@127.0.0.1\r\nCSeq: 2 INVITE\r\n` +
      `Contact: <sip:bench@127.0.0.1:41000;transport=tcp>\r\n` +
      `Content-Type: application/sdp\r\nContent-Length: ${SDP.length}\r\n\r\n${SDP}`,
  );
}

async function measure(root: string): Promise<Record<string, number>> {
  const { parseMessage } = await import(`${root}/src/sip/parse.ts`);
  const { WriteQueue } = await import(`${root}/src/transport/write_queue.ts`);
  const gc = (globalThis as { gc?: () => void }).gc!;
  // The peer reads nothing: the first write never completes, everything after it queues.
  const stalled = { write: () => new Promise<number>(() => {}) } as unknown as Deno.Conn;
  const queue = new WriteQueue(stalled, () => {});
  const { layer, flow } = await streamLayer(root, (bytes) => queue.write(bytes));
  const target = { flow };
  const wires = Array.from({ length: MESSAGES }, (_, i) => invite(i));
  const wireBytes = wires.reduce((n, w) => n + w.length, 0);
  gc();
  const before = Deno.memoryUsage();
  /** Every 100th message: how many of them the backlog keeps alive. */
  const sampled: WeakRef<object>[] = [];
  for (let i = 0; i < MESSAGES; i++) {
    // Received, parsed, sent on: what a proxy does with each request of a call.
    const message = parseMessage(wires[i]);
    if (i % 100 === 0) sampled.push(new WeakRef(message));
    layer.send(message, target).catch(() => {});
    if (i % 200 === 199) await new Promise((r) => setTimeout(r, 0));
  }
  await new Promise((r) => setTimeout(r, 0));
  gc();
  gc();
  const after = Deno.memoryUsage();
  return {
    heap_b_per_msg: Math.round((after.heapUsed - before.heapUsed) / MESSAGES),
    external_b_per_msg: Math.round((after.external - before.external) / MESSAGES),
    queued_b_per_msg: Math.round(queue.queuedBytes() / MESSAGES),
    wire_b_per_msg: Math.round(wireBytes / MESSAGES),
    messages_kept_pct: Math.round(100 * sampled.filter((r) => r.deref()).length / sampled.length),
  };
}

if (ONE) {
  console.log(JSON.stringify(await measure(ONE)));
} else {
  for (let round = 0; round < ROUNDS; round++) {
    for (const root of ROOTS) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--v8-flags=--expose-gc",
          import.meta.filename!,
          `--one=${root}`,
          `--messages=${MESSAGES}`,
        ],
        stderr: "inherit",
      }).output();
      console.log(`${root.padEnd(28)} ${new TextDecoder().decode(out.stdout).trim()}`);
    }
  }
}
