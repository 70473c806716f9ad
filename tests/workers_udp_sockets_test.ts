/**
 * Every SIP worker thread reads a UDP socket of its own on the SIP port (`SO_REUSEPORT`,
 * src/transport/udp_reuseport.ts), over real sockets: datagrams from several source ports are
 * read by more than one thread (`sip_udp_read_total` by worker), and a REGISTER retransmitted
 * by a peer is read by the thread that read the original, whose transaction absorbs it (the
 * same 200 again, not a second registration: a second handling of the same credentials would be
 * a nonce-count replay, answered 401 stale). With 2 and 3 workers.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "./support/test_server.ts";
import {
  answerChallenge,
  optionsRequest,
  registerRequest,
  TestSipClient,
} from "./support/sip_client.ts";
import { readsOf, udpClientIn } from "./support/placed_client.ts";

const DOMAIN = "example.test";
const ALICE = { user: "alice", domain: DOMAIN, password: "secret-a" };

function start(workers: number): Promise<TestServer> {
  return startTestServer({
    transports: ["udp"],
    accounts: [ALICE],
    workers,
    configure: (c) => {
      c.ping.interval = 0;
    },
  });
}

for (const workers of [2, 3]) {
  Deno.test(`workers = ${workers}: datagrams from 16 source ports are read by more than one thread`, async () => {
    await using ts = await start(workers);
    const before = await readsOf(ts, workers);
    const clients: TestSipClient[] = [];
    try {
      for (let i = 0; i < 16; i++) {
        const client = await TestSipClient.connect("udp", ts.port("udp"));
        clients.push(client);
        const callId = `spread-${i}-${crypto.randomUUID()}`;
        await client.send(optionsRequest(client, callId));
        assert.equal((await client.response(callId, 1, 5000)).status, 200);
      }
    } finally {
      for (const c of clients) c.close();
    }
    const after = await readsOf(ts, workers);
    const read = after.map((n, w) => n - before[w]);
    assert.equal(read.reduce((a, b) => a + b, 0), 16, `every datagram read once: ${read}`);
    const readers = read.filter((n) => n > 0).length;
    // 16 peers all hashed to one of 2 sockets: 1 chance in 2^15.
    assert.ok(readers > 1, `read by ${readers} thread(s): ${read}`);
  });

  for (let reader = 0; reader < workers; reader++) {
    Deno.test(`workers = ${workers}: a REGISTER retransmitted to thread ${reader}'s socket is absorbed by its transaction there`, async () => {
      await using ts = await start(workers);
      const phone = await udpClientIn(ts, workers, reader);
      try {
        const callId = `retx-${crypto.randomUUID()}`;
        const o = { ...ALICE, expires: 600, callId };
        await phone.send(registerRequest(phone, o, 1));
        const challenge = await phone.response(callId, 1, 5000);
        assert.equal(challenge.status, 401);
        const authorization = answerChallenge(challenge, {
          ...ALICE,
          method: "REGISTER",
          uri: `sip:${DOMAIN}`,
          nc: 1,
        });
        const request = registerRequest(phone, o, 2, authorization);
        const before = await readsOf(ts, workers);
        await phone.send(request);
        const first = await phone.response(callId, 2, 5000);
        assert.equal(first.status, 200);
        await phone.send(request); // the same bytes: a retransmission (RFC 3261 §17.2.2)
        const again = await phone.response(callId, 2, 5000);
        assert.equal(again.status, 200, "the transaction's 200 again, not a replay's 401");
        assert.equal(again.get("to"), first.get("to"), "the same response (To tag)");
        const read = (await readsOf(ts, workers)).map((n, w) => n - before[w]);
        assert.equal(read[reader], 2, `both read by thread ${reader}: ${read}`);
        const bindings = ts.server.location.lookup(`alice@${DOMAIN}`);
        assert.equal(bindings.length, 1, "one binding");
      } finally {
        phone.close();
      }
    });
  }
}
