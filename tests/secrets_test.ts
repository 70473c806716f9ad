/**
 * Shared secrets (`[sip] secret`, `previous_secret`) across servers, over real UDP: a digest
 * nonce issued by one server is accepted by another that shares the secret and refused by
 * one that does not, and after a reload that rotates the secret, nonces of the previous
 * secret still pass while older ones are stale.
 */
import assert from "node:assert/strict";
import type { SipResponse } from "../src/sip/message.ts";
import { answerChallenge, registerRequest, TestSipClient } from "./support/sip_client.ts";
import { startTestServer, type TestServer } from "./support/test_server.ts";
import { ALICE } from "./support/accounts.ts";

async function server(secret?: string): Promise<TestServer> {
  return await startTestServer({
    transports: ["udp"],
    accounts: [ALICE],
    configure: (c) => {
      c.ping.interval = 0;
      if (secret !== undefined) c.sip.secret = secret;
    },
  });
}

let cseq = 1;

/** A 401 challenge from `issuer`, answered with the right password, sent to `verifier`. */
async function crossRegister(issuer: TestServer, verifier: TestServer): Promise<SipResponse> {
  const a = await TestSipClient.connect("udp", issuer.port("udp"));
  const b = await TestSipClient.connect("udp", verifier.port("udp"));
  try {
    const opts = { ...ALICE, expires: 600, callId: `cross-${crypto.randomUUID()}` };
    const first = cseq++;
    await a.send(registerRequest(a, opts, first));
    const challenge = await a.response(opts.callId, first);
    assert.equal(challenge.status, 401);
    const auth = answerChallenge(challenge, {
      user: ALICE.user,
      password: ALICE.password,
      method: "REGISTER",
      uri: `sip:${ALICE.domain}`,
    });
    const second = cseq++;
    await b.send(registerRequest(b, opts, second, auth));
    return await b.response(opts.callId, second);
  } finally {
    a.close();
    b.close();
  }
}

/** The challenge's `stale` flag: a nonce the verifier did not sign (or no longer accepts). */
function stale(response: SipResponse): boolean {
  return response.status === 401 && /stale=true/i.test(response.get("www-authenticate") ?? "");
}

Deno.test("secrets: a nonce from one server passes on another sharing [sip] secret only", async () => {
  await using one = await server("deployment-secret-1");
  await using two = await server("deployment-secret-1");
  await using stranger = await server();
  const shared = await crossRegister(one, two);
  assert.equal(shared.status, 200, `${shared.status} ${shared.reason}`);
  assert.equal(two.server.location.lookup("alice@example.test").length, 1);
  assert.ok(stale(await crossRegister(one, stranger)), "a random secret refuses it");
});

Deno.test("secrets: after a rotation by reload the previous secret's nonces pass, older ones not", async () => {
  await using old = await server("rotation-1");
  await using rotated = await server("rotation-1");
  await rotated.server.reload({
    ...rotated.config,
    sip: { ...rotated.config.sip, secret: "rotation-2", previousSecret: "rotation-1" },
  });
  const during = await crossRegister(old, rotated);
  assert.equal(during.status, 200, "a nonce of the previous secret is still accepted");
  await using current = await server("rotation-2");
  assert.equal((await crossRegister(current, rotated)).status, 200, "the new secret signs");
  await rotated.server.reload({
    ...rotated.config,
    sip: { ...rotated.config.sip, secret: "rotation-3", previousSecret: "rotation-2" },
  });
  assert.ok(stale(await crossRegister(old, rotated)), "two rotations later: stale");
  assert.equal((await crossRegister(current, rotated)).status, 200);
});
