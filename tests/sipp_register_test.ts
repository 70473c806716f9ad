/**
 * @module Interop proof with sipp (package `sip-tester`): a REGISTER scenario that expects
 * the digest challenge and answers it with sipp's own `[authentication]` (`-au`/`-ap`),
 * run for many calls over UDP and over TCP against an in-process sipws. Passes only when
 * every call ends on a 200 and the server's location service holds each contact.
 * Pinned to one SIP worker: the single-thread path (docs/workers.md, "Tests").
 */
import assert from "node:assert/strict";
import { countersOf, startTestServer } from "./support/test_server.ts";
import { callerArgs, describeSipp, runSipp, startSipp } from "./support/sipp.ts";

const ALICE = { user: "alice", domain: "example.test", password: "sipp-secret" };
const CALLS = 20;

/** One REGISTER of a call (`cseq` 1 bare, 2 with sipp's `[authentication]`). */
const registerSend = (cseq: number): string =>
  `<send retrans="500">
    <![CDATA[
      REGISTER sip:${ALICE.domain} SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      Max-Forwards: 70
      From: <sip:[service]@${ALICE.domain}>;tag=[pid]SIPpTag[call_number]
      To: <sip:[service]@${ALICE.domain}>
      Call-ID: [call_id]
      CSeq: ${cseq} REGISTER
      Contact: <sip:reg-[call_number]@[local_ip]:[local_port];transport=[transport]>
      Expires: 600
${cseq > 1 ? "      [authentication]\n" : ""}      Content-Length: 0

    ]]>
  </send>`;

/**
 * One call = REGISTER → 401 → REGISTER with credentials → 200, then an optional pause
 * (so a TCP connection, whose close removes its bindings, stays open while the test looks).
 * Each call registers its own contact user (`reg-N`), so N calls leave N bindings.
 */
export const registerAuthScenario = (holdMs = 0): string =>
  `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="register_auth">
  ${registerSend(1)}
  <recv response="401" auth="true" />
  ${registerSend(2)}
  <recv response="200" />
  ${holdMs > 0 ? `<pause milliseconds="${holdMs}" />` : ""}
</scenario>
`;

for (const transport of ["udp", "tcp"] as const) {
  Deno.test(`sipp REGISTER with -au/-ap over ${transport}: ${CALLS} calls, 0 failed`, async () => {
    await using ts = await startTestServer({
      workers: 1,
      transports: [transport],
      accounts: [ALICE],
      configure: (c) => {
        c.sip.domains = [ALICE.domain];
        // sipp sends its 40 REGISTERs from one address within a second, and on a loaded
        // machine their retransmissions too: the per-source limit (50/s, abuse_test proves
        // it) would answer some with 503. This test proves digest interop, not the limit.
        c.abuse.rateLimit = 0;
      },
    });
    const port = ts.port(transport);
    const added: string[] = [];
    ts.server.events.on("registration.added", (e) => added.push(e.binding.flow.transport));
    await using sipp = await startSipp({
      // sipp holds every call open 3 s after its 200, keeping its TCP connection up.
      scenarioXml: registerAuthScenario(3000),
      args: [
        ...callerArgs({
          server: `127.0.0.1:${port}`,
          transport: transport === "udp" ? "u1" : "t1",
          service: ALICE.user,
          account: ALICE,
        }),
        ...["-r", "50"],
      ],
      calls: CALLS,
      timeoutMs: 20_000,
    });
    const aor = `${ALICE.user}@${ALICE.domain}`;
    for (let i = 0; i < 200 && ts.server.location.lookup(aor).length < CALLS; i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    const bindings = ts.server.location.lookup(aor);
    assert.equal(bindings.length, CALLS, "one binding per sipp call while sipp runs");
    for (const b of bindings) assert.equal(b.flow.transport, transport);
    assert.equal(new Set(bindings.map((b) => b.contact)).size, CALLS);

    const result = await sipp.result();
    assert.equal(result.code, 0, describeSipp(result));
    assert.equal(result.stats?.successfulCalls, CALLS, describeSipp(result));
    assert.equal(result.stats?.failedCalls, 0, describeSipp(result));
    assert.deepEqual(added, Array(CALLS).fill(transport));
    // sipp closed its TCP connection on exit; its Contact is its own source address, so
    // under the default sip.tcp_bindings = "contact" rule the bindings outlive the flow.
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(ts.server.location.lookup(aor).length, CALLS, `${transport} bindings stay`);
    assert.ok((await countersOf(ts)).total("sip_auth_failures_total") === 0);
  });
}

Deno.test("sipp REGISTER with a wrong -ap fails every call (the 200 is really earned)", async () => {
  await using ts = await startTestServer({ workers: 1, transports: ["udp"], accounts: [ALICE] });
  const result = await runSipp({
    scenarioXml: registerAuthScenario(),
    args: callerArgs({
      server: `127.0.0.1:${ts.port("udp")}`,
      transport: "u1",
      service: ALICE.user,
      account: { user: ALICE.user, password: "wrong-password" },
    }),
    calls: 3,
    timeoutMs: 10_000,
  });
  assert.notEqual(result.code, 0, describeSipp(result));
  assert.equal(result.stats?.successfulCalls, 0, describeSipp(result));
  assert.equal(ts.server.location.size, 0);
});
