/**
 * @module Memory held per answered server transaction over UDP (Timer J, or Timer L for an
 * INVITE, keeps it 64·T1 after the final response): N REGISTERs parsed from wire bytes,
 * each answered with a 401 carrying two digest challenges (as the registrar does), then a
 * full GC and the heap growth divided by N. The sender serializes like the transport
 * layer. Run with
 * `deno run -A --v8-flags=--expose-gc bench/tx_memory.ts [N] [--invite]`; `--invite` sends
 * INVITEs with a 1.4 KB SDP answered 200 with SDP (Accepted, Timer L) instead. `--client`
 * measures client transactions instead: BYEs sent and answered 200 (non-INVITE Completed,
 * Timer K = T4), or with `--invite` INVITEs answered 200 with SDP (Accepted, Timer M).
 * Prints one JSON line.
 */
import { createResponse, type SipRequest } from "../src/sip/message.ts";
import { parseMessage } from "../src/sip/parse.ts";
import { TransactionLayer } from "../src/transaction/layer.ts";
import { BENCH_FLOW, gc, InstantSender } from "./support/fake_sender.ts";

const encoder = new TextEncoder();
const SDP = "v=0\r\n" + "a=candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host\r\n".repeat(24);
/** INVITE with a WebRTC-sized SDP body (`--invite`): the proxy's transactions. */
const invite = (i: number) =>
  encoder.encode(
    `INVITE sip:bob@example.test SIP/2.0\r\n` +
      `Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKinv.${i};rport\r\n` +
      `Max-Forwards: 70\r\nFrom: <sip:alice@example.test>;tag=f${i}\r\n` +
      `To: <sip:bob@example.test>\r\nCall-ID: i${i}@bench\r\nCSeq: 1 INVITE\r\n` +
      `Contact: <sip:alice@127.0.0.1:40000>\r\nContent-Type: application/sdp\r\n` +
      `Content-Length: ${SDP.length}\r\n\r\n${SDP}`,
  );
const register = (i: number) =>
  encoder.encode(
    `REGISTER sip:example.test SIP/2.0\r\n` +
      `Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKbench.${i};rport\r\n` +
      `Max-Forwards: 70\r\nFrom: <sip:bench@example.test>;tag=f${i}\r\n` +
      `To: <sip:bench@example.test>\r\nCall-ID: c${i}@bench\r\nCSeq: ${i} REGISTER\r\n` +
      `Contact: <sip:ua${i}@127.0.0.1:40000>\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n`,
  );

/**
 * What the server sends out, answered by the client's peer: INVITE → 200 with SDP (RFC 6026
 * Accepted, Timer M), BYE → 200 (non-INVITE Completed, Timer K = T4 over UDP).
 */
const outgoing = (i: number, method: "INVITE" | "BYE") =>
  encoder.encode(
    `${method} sip:bob@127.0.0.1:40002 SIP/2.0\r\n` +
      `Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKout.${i}\r\n` +
      `Max-Forwards: 70\r\nFrom: <sip:alice@example.test>;tag=f${i}\r\n` +
      `To: <sip:bob@example.test>${method === "BYE" ? `;tag=t${i}` : ""}\r\n` +
      `Call-ID: o${i}@bench\r\nCSeq: ${method === "BYE" ? 2 : 1} ${method}\r\n` +
      `Contact: <sip:alice@127.0.0.1:5060>\r\nContent-Length: 0\r\n\r\n`,
  );
const answer = (i: number, method: "INVITE" | "BYE") => {
  const body = method === "INVITE" ? SDP : "";
  return encoder.encode(
    `SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKout.${i}\r\n` +
      `From: <sip:alice@example.test>;tag=f${i}\r\nTo: <sip:bob@example.test>;tag=t${i}\r\n` +
      `Call-ID: o${i}@bench\r\nCSeq: ${method === "BYE" ? 2 : 1} ${method}\r\n` +
      `Contact: <sip:bob@127.0.0.1:40002>\r\n` +
      (body ? `Content-Type: application/sdp\r\n` : "") +
      `Content-Length: ${body.length}\r\n\r\n${body}`,
  );
};

/**
 * Client transactions (`--client`): N requests sent, each answered 200, so each is left in
 * its final state (INVITE Accepted for Timer M; BYE Completed for Timer K). The TU's
 * handlers are one shared object, as the proxy's per-branch ones are small.
 */
export async function runClientTxMemory(
  n: number,
  method: "INVITE" | "BYE",
): Promise<Record<string, number>> {
  const layer = new TransactionLayer({
    sender: new InstantSender((m) => void m.toBytes()),
    t1: 5000,
    t2: 5000,
    // Timer K = T4: long enough that none ends while the N are sent on a busy box.
    t4: 320_000,
  });
  const handlers = { onResponse() {}, onTimeout() {}, onTransportError() {} };
  await new Promise((r) => setTimeout(r, 20));
  gc();
  const m0 = Deno.memoryUsage();
  for (let i = 0; i < n; i++) {
    layer.sendRequest(
      parseMessage(outgoing(i, method)) as SipRequest,
      { flow: BENCH_FLOW },
      handlers,
    );
    layer.receive({ message: parseMessage(answer(i, method)), flow: BENCH_FLOW, receivedAt: 0 });
  }
  await new Promise((r) => setTimeout(r, 20));
  gc();
  const m1 = Deno.memoryUsage();
  const live = layer.stats().client;
  layer.close();
  return {
    transactions: live,
    bytes_per_tx: Math.round((m1.heapUsed - m0.heapUsed) / n),
    external_bytes_per_tx: Math.round((m1.external - m0.external) / n),
  };
}

export async function runTxMemory(
  n: number,
  method: "REGISTER" | "INVITE" = "REGISTER",
): Promise<Record<string, number>> {
  const layer = new TransactionLayer({
    sender: new InstantSender((m) => void m.toBytes()),
    t1: 5000,
    t2: 5000,
    t4: 5000,
  });
  const nonce = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  layer.onRequest = (req, _flow, tx) => {
    if (req.method === "INVITE") {
      // Answered 200 with SDP: Accepted for Timer L = 64·T1.
      const ok = createResponse(req, 200, undefined, `t${req.callId}`);
      ok.append("Contact", "<sip:bob@127.0.0.1:40002>");
      ok.append("Content-Type", "application/sdp");
      ok.bodyText = SDP;
      tx?.respond(ok);
      return;
    }
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
    const bytes = method === "INVITE" ? invite(i) : register(i);
    layer.receive({ message: parseMessage(bytes), flow: BENCH_FLOW, receivedAt: 0 });
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
  const n = Number(Deno.args.find((a) => /^\d+$/.test(a)) ?? 50_000);
  const method = Deno.args.includes("--invite") ? "INVITE" : "REGISTER";
  if (Deno.args.includes("--client")) {
    const sent = method === "INVITE" ? "INVITE" : "BYE";
    console.log(
      JSON.stringify({ side: "client", method: sent, ...await runClientTxMemory(n, sent) }),
    );
  } else console.log(JSON.stringify({ side: "server", method, ...await runTxMemory(n, method) }));
}
