/**
 * Digest nonce-count replay across workers (`workers = 2`), over real sockets: the highest
 * nonce-count accepted for a nonce is one state for the process (src/core/nonce_counts.ts),
 * so credentials accepted by one worker are refused (401, stale) when replayed to the other,
 * whether the replay is a UDP REGISTER whose Call-ID the other worker owns or a REGISTER on a
 * TCP connection the other worker holds (a REGISTER over a stream is handled where read).
 * With a replay state per worker both replays were accepted (200).
 */
import assert from "node:assert/strict";
import type { SipResponse } from "../src/sip/message.ts";
import { startTestServer, type TestServer } from "./support/test_server.ts";
import {
  answerChallenge,
  register,
  type RegisterOptions,
  registerRequest,
  TestSipClient,
} from "./support/sip_client.ts";
import { callIdFor } from "./support/sip_call.ts";
import { until } from "./support/poll.ts";

const DOMAIN = "example.test";
const ALICE = { user: "alice", domain: DOMAIN, password: "secret-a" };
const CAROL = { user: "carol", domain: DOMAIN, password: "secret-c" };
const URI = `sip:${DOMAIN}`;

function startTwoWorkers(): Promise<TestServer> {
  return startTestServer({
    transports: ["udp", "tcp"],
    accounts: [ALICE, CAROL],
    configure: (c) => {
      c.workers = 2;
      c.ping.interval = 0;
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

/** A TCP client whose connection the kernel gave worker `worker` (probed with a REGISTER). */
async function tcpClientIn(ts: TestServer, worker: number): Promise<TestSipClient> {
  for (let attempt = 0; attempt < 40; attempt++) {
    const client = await TestSipClient.connect("tcp", ts.port("tcp"));
    const ok = await register(client, { ...CAROL, expires: 600 }, 5000);
    assert.equal(ok.status, 200, "carol registers over tcp");
    const held = await until("the probe's binding in main's copy", () => {
      const binding = ts.server.location.lookup(`carol@${DOMAIN}`)
        .find((b) => b.flow.remote.port === client.localPort);
      return binding && (binding.flow.owner?.worker ?? 0);
    });
    if (held === worker) return client;
    client.close();
  }
  throw new Error(`no TCP connection landed in worker ${worker}`);
}

Deno.test("workers: a nonce-count accepted in one worker is a replay in the other (UDP, both ways)", async () => {
  await using ts = await startTwoWorkers();
  const phone = await TestSipClient.connect("udp", ts.port("udp"));
  try {
    const inMain = { ...ALICE, expires: 600, callId: callIdFor(0, "reg") };
    const inThread = { ...ALICE, expires: 600, callId: callIdFor(1, "reg") };
    const challenge = await send(phone, inMain);
    assert.equal(challenge.status, 401);
    const answer = (nc: number) =>
      answerChallenge(challenge, { ...ALICE, method: "REGISTER", uri: URI, nc });
    const first = answer(1);
    assert.equal((await send(phone, inMain, first)).status, 200, "nc 1 in the main thread");
    assertReplayRefused(await send(phone, inThread, first), "nc 1 again, in the worker thread");
    // The nonce itself is good there: the refusal was the replay.
    const second = answer(2);
    assert.equal((await send(phone, inThread, second)).status, 200, "nc 2 in the worker thread");
    assertReplayRefused(await send(phone, inMain, second), "nc 2 again, in the main thread");
  } finally {
    phone.close();
  }
});

for (const used of [0, 1]) {
  Deno.test(`workers: credentials accepted over UDP in worker ${used} are refused when replayed on a TCP connection of worker ${1 - used}`, async () => {
    await using ts = await startTwoWorkers();
    const phone = await TestSipClient.connect("udp", ts.port("udp"));
    const attacker = await tcpClientIn(ts, 1 - used);
    try {
      const viaUdp = { ...ALICE, expires: 600, callId: callIdFor(used, "reg") };
      const challenge = await send(phone, viaUdp);
      assert.equal(challenge.status, 401);
      const credentials = answerChallenge(challenge, { ...ALICE, method: "REGISTER", uri: URI });
      assert.equal((await send(phone, viaUdp, credentials)).status, 200);
      const replay = { ...ALICE, expires: 600, callId: `replay-${crypto.randomUUID()}` };
      assertReplayRefused(await send(attacker, replay, credentials), "the replay over TCP");
    } finally {
      attacker.close();
      phone.close();
    }
  });
}
