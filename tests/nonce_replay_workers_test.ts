/**
 * Digest nonce-count replay across workers (`workers = 2`), over real sockets: the highest
 * nonce-count accepted for a nonce is one state for the process (src/core/nonce_counts.ts),
 * so credentials accepted by one worker are refused (401, stale) when replayed to the other,
 * over UDP (a REGISTER is handled by the thread whose socket read it, picked by the client's
 * source port) or on a TCP connection (a REGISTER over a stream is handled by the worker holding it).
 * With a replay state per worker the replays were accepted (200).
 */
import assert from "node:assert/strict";
import type { SipResponse } from "../src/sip/message.ts";
import { startTestServer, type TestServer } from "./support/test_server.ts";
import {
  answerChallenge,
  type RegisterOptions,
  registerRequest,
  TestSipClient,
} from "./support/sip_client.ts";
import { registeredIn, udpClientIn } from "./support/placed_client.ts";
import { ALICE, CAROL, DOMAIN } from "./support/accounts.ts";

const URI = `sip:${DOMAIN}`;

function startTwoWorkers(): Promise<TestServer> {
  return startTestServer({
    transports: ["udp", "tcp"],
    accounts: [ALICE, CAROL],
    configure: (c) => {
      c.workers = 2;
      c.ping.interval = 0;
      // Placing the clients (udpClientIn, registeredIn) tries source ports and connections
      // until one lands in the thread wanted, several REGISTERs a try, all from 127.0.0.1:
      // past the per-source limit (50/s) a later REGISTER got 503 instead of its 401.
      c.abuse.rateLimit = 0;
    },
  });
}

let cseq = 1;

/** Sends a REGISTER as `o` (with `authorization` if given) and returns the answer. */
async function send(
  client: TestSipClient,
  o: RegisterOptions & { callId: string },
  authorization?: string,
): Promise<SipResponse> {
  const seq = cseq++;
  await client.send(registerRequest(client, o, seq, authorization));
  return await client.response(o.callId, seq, 5000);
}

/** A 401 whose challenge says stale=true: what a replayed nonce-count is answered. */
function assertReplayRefused(answer: SipResponse, what: string): void {
  assert.equal(answer.status, 401, what);
  assert.match(answer.get("www-authenticate") ?? "", /stale=true/i, what);
}

/**
 * A nonce from one challenge to `a`, used with nonce-count 1 through `a` and with 2 through
 * `b`: each is accepted by the first thread and refused (a replay) by the other.
 */
async function replayBothWays(
  a: TestSipClient,
  inA: string,
  b: TestSipClient,
  inB: string,
): Promise<void> {
  const viaA = { ...ALICE, expires: 600, callId: `a-${crypto.randomUUID()}` };
  const viaB = { ...ALICE, expires: 600, callId: `b-${crypto.randomUUID()}` };
  const challenge = await send(a, viaA);
  assert.equal(challenge.status, 401);
  const answer = (nc: number) =>
    answerChallenge(challenge, { ...ALICE, method: "REGISTER", uri: URI, nc });
  const first = answer(1);
  assert.equal((await send(a, viaA, first)).status, 200, `nc 1 in ${inA}`);
  assertReplayRefused(await send(b, viaB, first), `nc 1 again, in ${inB}`);
  // The nonce itself is good there: the refusal was the replay.
  const second = answer(2);
  assert.equal((await send(b, viaB, second)).status, 200, `nc 2 in ${inB}`);
  assertReplayRefused(await send(a, viaA, second), `nc 2 again, in ${inA}`);
}

/** A TCP client (registered as Carol) whose connection the kernel gave worker `worker`. */
const tcpClientIn = (ts: TestServer, worker: number) =>
  registeredIn(ts, "tcp", worker, { ...CAROL, expires: 600 });

Deno.test("workers: a nonce-count accepted over UDP in the main thread is a replay on a TCP connection of the worker thread, and the reverse", async () => {
  await using ts = await startTwoWorkers();
  // A UDP client whose REGISTERs the main thread's socket reads (and so handles).
  const phone = await udpClientIn(ts, 2, 0, ALICE);
  const attacker = await tcpClientIn(ts, 1);
  try {
    await replayBothWays(phone, "the main thread (UDP)", attacker, "the worker thread (TCP)");
  } finally {
    attacker.close();
    phone.close();
  }
});

Deno.test("workers: a nonce-count accepted on a TCP connection of one worker is a replay on one of the other, both ways", async () => {
  await using ts = await startTwoWorkers();
  const inMain = await tcpClientIn(ts, 0);
  const inThread = await tcpClientIn(ts, 1);
  try {
    await replayBothWays(inMain, "the main thread (TCP)", inThread, "the worker thread (TCP)");
  } finally {
    inThread.close();
    inMain.close();
  }
});
