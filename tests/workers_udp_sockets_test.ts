/**
 * Every SIP worker thread reads a UDP socket of its own on the SIP port (`SO_REUSEPORT`,
 * src/transport/udp_reuseport.ts), over real sockets: REGISTERs from several source ports are
 * read by more than one thread (`sip_udp_read_total` by worker), any other request by the main
 * thread (which hands it to its call's worker), and a REGISTER retransmitted
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
import { ALICE, DOMAIN } from "./support/accounts.ts";

function start(workers: number): Promise<TestServer> {
  return startTestServer({
    transports: ["udp"],
    accounts: [ALICE],
    configure: (c) => {
      // Set here, not as `workers`: SIPWS_TEST_WORKERS=N leaves the config's own count alone
      // (these cases are about 2 and 3 reading threads).
      c.workers = workers;
      c.ping.interval = 0;
    },
  });
}

for (const workers of [2, 3]) {
  Deno.test(`workers = ${workers}: REGISTERs from 16 source ports are read by more than one thread, other requests by the main thread`, async () => {
    await using ts = await start(workers);
    const clients: TestSipClient[] = [];
    const delta = async (send: (client: TestSipClient, i: number) => Promise<void>) => {
      const before = await readsOf(ts, workers);
      for (let i = 0; i < clients.length; i++) await send(clients[i], i);
      return (await readsOf(ts, workers)).map((n, w) => n - before[w]);
    };
    try {
      for (let i = 0; i < 16; i++) clients.push(await TestSipClient.connect("udp", ts.port("udp")));
      const registers = await delta(async (client, i) => {
        const callId = `spread-${i}-${crypto.randomUUID()}`;
        await client.send(registerRequest(client, { ...ALICE, callId }, 1));
        assert.equal((await client.response(callId, 1, 5000)).status, 401);
      });
      assert.equal(registers.reduce((a, b) => a + b, 0), 16, `each read once: ${registers}`);
      // 16 source ports all on one socket: 1 chance in 2^15 (the ports are the kernel's).
      const readers = registers.filter((n) => n > 0).length;
      assert.ok(readers > 1, `REGISTERs read by ${readers} thread(s): ${registers}`);
      // With 3 workers or more the main thread only dispatches: REGISTERs go to the others.
      if (workers > 2) assert.equal(registers[0], 0, `none read by main: ${registers}`);
      const options = await delta(async (client, i) => {
        const callId = `options-${i}-${crypto.randomUUID()}`;
        await client.send(optionsRequest(client, callId));
        assert.equal((await client.response(callId, 1, 5000)).status, 200);
      });
      assert.deepEqual(options, [16, ...Array(workers - 1).fill(0)], "all read by main");
    } finally {
      for (const c of clients) c.close();
    }
  });

  for (let reader = workers > 2 ? 1 : 0; reader < workers; reader++) {
    Deno.test(`workers = ${workers}: a REGISTER retransmitted to thread ${reader}'s socket is absorbed by its transaction there`, async () => {
      await using ts = await start(workers);
      const phone = await udpClientIn(ts, workers, reader, ALICE);
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
