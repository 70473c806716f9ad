/**
 * Proof with real peers: a sipp UAC (alice, authenticating INVITE with 407 via
 * `-au/-ap`) calls bob through sipws, bob being a sipp UAS registered at its own port.
 * Over UDP, over TCP, and mixed (UDP in, TCP out): a full call with BYE, CANCEL before
 * the answer, 486 Busy, no answer (408 from the branch timeout; 487 after Timer C
 * cancels a ringing branch), and a call under packet loss (sipp `-lost`). Every run is
 * bounded by sipp's `-timeout` and the helper's hard kill.
 * Pinned to one SIP worker: the single-thread path (docs/workers.md, "Tests").
 */
import assert from "node:assert/strict";
import { countersOf, startTestServer, type TestServer } from "./support/test_server.ts";
import { registerContact } from "./support/sip_client.ts";
import {
  callerArgs,
  describeSipp,
  runSipp,
  sippListening,
  type SippResult,
  startSipp,
} from "./support/sipp.ts";
import { freePorts } from "./support/ports.ts";
import type { Config } from "../src/config/config.ts";
import { ALICE, BOB, DOMAIN } from "./support/accounts.ts";

const SCENARIOS = new URL("./support/scenarios/", import.meta.url).pathname;

type Leg = "udp" | "tcp";

interface CallOptions {
  uac: string;
  uas: string;
  uacTransport: Leg;
  uasTransport: Leg;
  /** sipp `-lost` percentage on both peers. */
  lost?: number;
  configure?: (config: Config) => void;
  /** Scenario text rewrites (e.g. make the 180 optional under packet loss). */
  rewriteUac?: (xml: string) => string;
  timeoutMs?: number;
  /** Calls to place (default 1). */
  calls?: number;
  /** sipp `-d`: how long the UAS lingers after its last message (default 500 ms). */
  uasLingerMs?: number;
}

interface CallResult {
  ts: TestServer;
  uac: SippResult;
  uas: SippResult;
}

const sippTransport = (leg: Leg) => leg === "udp" ? "u1" : "t1";

/**
 * Registers bob with a Contact at the UAS's port (over UDP from the test UA: a phone
 * that receives calls over TCP as its Contact says), runs the UAS, then the UAC.
 */
async function call(o: CallOptions, check: (r: CallResult) => void | Promise<void>): Promise<void> {
  await using ts = await startTestServer({
    workers: 1,
    transports: ["udp", "tcp"],
    accounts: [ALICE, BOB],
    configure: o.configure,
  });
  const [uasPort, uacPort] = freePorts(2);
  const tcp = o.uasTransport === "tcp" ? ";transport=tcp" : "";
  await registerContact(ts.port("udp"), BOB, `sip:bob@127.0.0.1:${uasPort}${tcp}`);
  const timeoutMs = o.timeoutMs ?? 15000;
  const lost = o.lost !== undefined ? ["-lost", String(o.lost)] : [];
  await using uas = await startSipp({
    scenarioFile: `${SCENARIOS}${o.uas}`,
    args: [
      "-p",
      String(uasPort),
      "-t",
      sippTransport(o.uasTransport),
      "-d",
      String(o.uasLingerMs ?? 500),
      ...lost,
    ],
    calls: o.calls ?? 1,
    timeoutMs: timeoutMs + 2000,
  });
  await sippListening(uas, uasPort, o.uasTransport);
  const uacXml = await Deno.readTextFile(`${SCENARIOS}${o.uac}`);
  const uac = await runSipp({
    scenarioXml: o.rewriteUac ? o.rewriteUac(uacXml) : uacXml,
    args: [
      ...callerArgs({
        server: `127.0.0.1:${ts.port(o.uacTransport)}`,
        port: uacPort,
        transport: sippTransport(o.uacTransport),
        service: "bob",
        account: ALICE,
      }),
      ...lost,
    ],
    calls: o.calls ?? 1,
    timeoutMs,
  });
  const uasResult = await uas.result();
  await check({ ts, uac, uas: uasResult });
}

function assertPassed(r: SippResult, who: string, calls = 1): void {
  assert.equal(r.code, 0, `${who} failed:\n${describeSipp(r)}`);
  assert.equal(
    r.stats?.successfulCalls,
    calls,
    `${who} completed ${calls} call(s):\n${describeSipp(r)}`,
  );
}

function assertDialog(ts: TestServer, state: "terminated", answered: boolean, legs?: [Leg, Leg]) {
  const dialogs = ts.server.dialogs.list();
  assert.equal(dialogs.length, 1, JSON.stringify(dialogs));
  const d = dialogs[0];
  assert.equal(d.state, state);
  assert.equal(d.from, `alice@${DOMAIN}`);
  assert.equal(d.to, `bob@${DOMAIN}`);
  assert.equal(d.answeredAt !== undefined, answered);
  assert.ok(d.endedAt !== undefined && d.endedAt >= d.startedAt);
  if (legs) {
    assert.equal(d.caller.transport, legs[0]);
    assert.equal(d.callee?.transport, legs[1]);
  }
}

const MATRIX: [Leg, Leg][] = [["udp", "udp"], ["tcp", "tcp"], ["udp", "tcp"]];

for (const [uacT, uasT] of MATRIX) {
  const label = `${uacT} → ${uasT}`;

  Deno.test(`proxy sipp ${label}: INVITE/407/INVITE, 180, 200, ACK, BYE`, async () => {
    await call(
      { uac: "uac_call.xml", uas: "uas_answer.xml", uacTransport: uacT, uasTransport: uasT },
      async ({ ts, uac, uas }) => {
        assertPassed(uac, "UAC");
        assertPassed(uas, "UAS");
        assertDialog(ts, "terminated", true, [uacT, uasT]);
        assert.equal((await countersOf(ts)).total("sip_auth_failures_total"), 0);
      },
    );
  });
}

/** Rewrites uac_reject.xml's expected final; a 408 comes from the proxy (no callee tag). */
const status = (code: number) => (xml: string) => {
  const out = xml.replace('<recv response="486">', `<recv response="${code}">`);
  return code === 408 ? out.replace('regexp="SIPpTag01"', 'regexp="tag="') : out;
};

for (const [uacT, uasT] of MATRIX) {
  const label = `${uacT} → ${uasT}`;

  Deno.test(`proxy sipp ${label}: CANCEL while ringing → 200, 487, ACK`, async () => {
    await call(
      { uac: "uac_cancel.xml", uas: "uas_ring_cancel.xml", uacTransport: uacT, uasTransport: uasT },
      ({ ts, uac, uas }) => {
        assertPassed(uac, "UAC");
        assertPassed(uas, "UAS");
        assertDialog(ts, "terminated", false);
      },
    );
  });

  Deno.test(`proxy sipp ${label}: 486 Busy Here reaches the caller`, async () => {
    await call(
      { uac: "uac_reject.xml", uas: "uas_busy.xml", uacTransport: uacT, uasTransport: uasT },
      ({ ts, uac, uas }) => {
        assertPassed(uac, "UAC");
        assertPassed(uas, "UAS");
        assertDialog(ts, "terminated", false);
      },
    );
  });
}

Deno.test("proxy sipp udp → udp: a silent callee → 408 after the branch times out", async () => {
  const started = Date.now();
  await call(
    {
      uac: "uac_reject.xml",
      uas: "uas_silent.xml",
      uacTransport: "udp",
      uasTransport: "udp",
      rewriteUac: status(408),
    },
    ({ ts, uac }) => {
      assertPassed(uac, "UAC");
      assertDialog(ts, "terminated", false);
      // Timer B = 64*T1 = 3.2 s with the test server's T1 of 50 ms.
      assert.ok(Date.now() - started >= 3000, "the 408 waited for the branch timeout");
    },
  );
});

Deno.test("proxy sipp udp → tcp: ringing with no answer → Timer C cancels the branch → 487", async () => {
  await call(
    {
      uac: "uac_reject.xml",
      uas: "uas_ring_cancel.xml",
      uacTransport: "udp",
      uasTransport: "tcp",
      rewriteUac: status(487),
      configure: (c) => c.sip.timerC = 1000,
    },
    ({ ts, uac, uas }) => {
      assertPassed(uac, "UAC");
      assertPassed(uas, "UAS (got the proxy's CANCEL)");
      assertDialog(ts, "terminated", false);
    },
  );
});

Deno.test("proxy sipp udp → udp: 5 calls with 10% packet loss on both peers (retransmissions)", async () => {
  await call(
    {
      uac: "uac_call.xml",
      uas: "uas_answer.xml",
      uacTransport: "udp",
      uasTransport: "udp",
      lost: 10,
      calls: 5,
      // Real-world T1: sipp's UAS cannot answer an INVITE retransmission once it sent its
      // 200, so the proxy must not retransmit merely because a loaded host was slow.
      configure: (c) => {
        c.sip.t1 = 250;
        c.sip.t2 = 4000;
      },
      // The UAS answers BYE retransmissions (Timer E: 250, 750, 1750, 3750 ms) this long.
      uasLingerMs: 4500,
      timeoutMs: 30000,
      // A lost 180 is never retransmitted: the UAC must not insist on it here.
      rewriteUac: (xml) =>
        xml.replace('<recv response="180"/>', '<recv response="180" optional="true"/>'),
    },
    ({ ts, uac, uas }) => {
      const both = `--- UAC ---\n${describeSipp(uac)}\n--- UAS ---\n${describeSipp(uas)}`;
      assert.equal(uac.stats?.successfulCalls, 5, both);
      assert.equal(uas.stats?.successfulCalls, 5, both);
      assert.equal(uac.code + uas.code, 0, both);
      const dialogs = ts.server.dialogs.list();
      assert.equal(dialogs.length, 5);
      assert.ok(
        dialogs.every((d) => d.state === "terminated" && d.answeredAt !== undefined),
        JSON.stringify(dialogs),
      );
    },
  );
});
