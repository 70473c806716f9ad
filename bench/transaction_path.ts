/**
 * @module What the transaction layer and the response's serialization cost per REGISTER
 * transaction answered in place, without the core: each request is parsed and stamped as
 * the transport does (outside the timing), then timed through `TransactionLayer.receive`,
 * a TU that answers 200 at once (`createResponse` + `toBytes`), the send and the completed
 * ring (Timer J) over UDP. Every request has a new branch and Call-ID, as in the open-loop
 * load. Figures: the main thread's CPU per request, median and least of 9 batches after 5
 * warm-up batches. Trees alternate (`--root=DIR`, repeatable; `--rounds=N`), one process
 * each (bench/support/tree_rounds.ts). Not part of the product.
 *
 *   deno run -A bench/transaction_path.ts --root=/work/main --root=/work/wt/wire --rounds=4
 */
import { alternateTrees, CHILD, cpuNs } from "./support/tree_rounds.ts";
import { BENCH_FLOW } from "./support/fake_sender.ts";

const BATCH = 4000;

async function child(root: string): Promise<string> {
  const { parseMessage } = await import(`${root}/src/sip/parse.ts`);
  const { createResponse } = await import(`${root}/src/sip/message.ts`);
  const { stampReceived } = await import(`${root}/src/transport/stamp_received.ts`);
  const { TransactionLayer } = await import(`${root}/src/transaction/layer.ts`);
  const flow = BENCH_FLOW;
  let bytes = 0;
  const sender = {
    send: (m: { toBytes(): Uint8Array }) => {
      bytes += m.toBytes().length;
      return Promise.resolve(flow);
    },
    localAddress: () => flow.local,
  };
  const layer = new TransactionLayer({ sender, t1: 500, t2: 4000, t4: 5000 });
  // deno-lint-ignore no-explicit-any
  layer.onRequest = (request: any, _flow: unknown, tx: any) =>
    tx.respond(createResponse(request, 200, undefined, "a1b2c3d4e5"));
  const encoder = new TextEncoder();
  let n = 0;
  const batch = (): number => {
    const messages = [];
    for (let i = 0; i < BATCH; i++, n++) {
      const message = parseMessage(encoder.encode(
        `REGISTER sip:example.test SIP/2.0\r\n` +
          `Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bK-1-${n}-0;rport\r\n` +
          `Max-Forwards: 70\r\nFrom: <sip:bench@example.test>;tag=1R${n}\r\n` +
          `To: <sip:bench@example.test>\r\nCall-ID: ${n}-1@127.0.0.1\r\nCSeq: 1 REGISTER\r\n` +
          `Content-Length: 0\r\n\r\n`,
      ));
      stampReceived(message, flow);
      messages.push(message);
    }
    const t0 = cpuNs();
    for (const message of messages) layer.receive({ message, flow });
    return (cpuNs() - t0) / 1000 / BATCH;
  };
  for (let k = 0; k < 5; k++) batch();
  const figures = Array.from({ length: 9 }, batch).sort((a, b) => a - b);
  layer.close();
  if (bytes === 0) throw new Error("nothing sent");
  return `median ${figures[4].toFixed(2)} least ${figures[0].toFixed(2)} µs CPU per request`;
}

if (CHILD) {
  console.log(await child(CHILD));
  Deno.exit(0);
} else {
  await alternateTrees(import.meta.url, "");
}
