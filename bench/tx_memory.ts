/**
 * @module Heap held per completed non-INVITE server transaction over UDP (Timer J = 64·T1
 * keeps it after the final response): N REGISTERs parsed from wire bytes, each answered
 * with a 401 carrying two digest challenges (as the registrar does), then a full GC and
 * the heap growth divided by N. The sender serializes like the transport layer. Run with
 * `deno run -A --v8-flags=--expose-gc bench/tx_memory.ts [N]`. Prints one JSON line.
 */
import { createResponse } from "../src/sip/message.ts";
import { parseMessage } from "../src/sip/parse.ts";
import type { SipMessage } from "../src/sip/message.ts";
import type { Flow, MessageSender, Target } from "../src/transport/types.ts";
import { TransactionLayer } from "../src/transaction/layer.ts";

const FLOW: Flow = {
  id: "udp:bench",
  transport: "udp",
  local: { host: "127.0.0.1", port: 5060 },
  remote: { host: "127.0.0.1", port: 40000 },
  reliable: false,
  secure: false,
};

class SerializingSender implements MessageSender {
  bytes = 0;
  send(m: SipMessage, _t: Target): Promise<Flow> {
    this.bytes += m.toBytes().length;
    return Promise.resolve(FLOW);
  }
  localAddress() {
    return { host: "127.0.0.1", port: 5060 };
  }
}

const encoder = new TextEncoder();
const register = (i: number) =>
  encoder.encode(
    `REGISTER sip:example.test SIP/2.0\r\n` +
      `Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKbench.${i};rport\r\n` +
      `Max-Forwards: 70\r\nFrom: <sip:bench@example.test>;tag=f${i}\r\n` +
      `To: <sip:bench@example.test>\r\nCall-ID: c${i}@bench\r\nCSeq: ${i} REGISTER\r\n` +
      `Contact: <sip:ua${i}@127.0.0.1:40000>\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n`,
  );
const gc = () => (globalThis as { gc?: () => void }).gc?.();

export async function runTxMemory(n: number): Promise<Record<string, number>> {
  const layer = new TransactionLayer({
    sender: new SerializingSender(),
    t1: 5000,
    t2: 5000,
    t4: 5000,
  });
  const nonce = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  layer.onRequest = (req, _flow, tx) => {
    const r = createResponse(req, 401);
    r.set("to", `${r.get("to")};tag=t${req.cseq.seq}`);
    for (const a of ["MD5", "SHA-256"]) {
      r.append(
        "WWW-Authenticate",
        `Digest realm="example.test", nonce="${nonce}", opaque="xyzxyzxyzxyz", algorithm=${a}, qop="auth"`,
      );
    }
    tx?.respond(r);
  };
  await new Promise((r) => setTimeout(r, 20));
  gc();
  const m0 = Deno.memoryUsage();
  const before = m0.heapUsed;
  for (let i = 0; i < n; i++) {
    layer.receive({ message: parseMessage(register(i)), flow: FLOW, receivedAt: 0 });
  }
  await new Promise((r) => setTimeout(r, 20));
  gc();
  const m1 = Deno.memoryUsage();
  const after = m1.heapUsed;
  const live = layer.stats().server;
  layer.close();
  return {
    transactions: live,
    bytes_per_tx: Math.round((after - before) / n),
    external_bytes_per_tx: Math.round((m1.external - m0.external) / n),
  };
}

if (import.meta.main) {
  console.log(JSON.stringify(await runTxMemory(Number(Deno.args[0] ?? 50_000))));
}
