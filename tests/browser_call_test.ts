/**
 * @module Interop proof for calls through the stateful proxy with real browsers: JsSIP
 * (npm `jssip`) user agents in headless Chromium (tests/support/browser.ts: its own network
 * namespace, only loopback) register with an in-process sipws over WS and WSS and call
 * each other with fake audio: ICE connects on 127.0.0.1, RTP flows both ways, a re-INVITE
 * puts the call on hold and a BYE ends it on both sides; a MESSAGE goes from one to the
 * other; a browser calls a sipp UAS on UDP and a sipp UAC on UDP calls a browser; a user
 * registered twice rings both and the first answer cancels the other branch. Every SIP
 * message each page sends or receives is in its console log (JsSIP transport debug), which
 * failures print as a trace.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import type { SipwsEvent } from "../src/events.ts";
import { type BrowserHandle, capturePageLog, launchBrowser } from "./support/browser.ts";
import {
  answer,
  call,
  headerValues,
  hold,
  installJsSip,
  messages,
  type RtpStats,
  sendMessage,
  session,
  type SessionEvent,
  type SessionInfo,
  sessions,
  sipTrace,
  startUa,
  stopUa,
  terminate,
  until,
  waitForRtp as waitForRtpAt,
  waitSession,
  waitSessionEvent,
} from "./support/jssip_page.ts";
import { freePort } from "./support/ports.ts";
import { register, TestSipClient } from "./support/sip_client.ts";
import { callerArgs, describeSipp, startSipp } from "./support/sipp.ts";
import { startWebRtcPhone, uacScenario } from "./support/sipp_webrtc.ts";
import { rfcTimers, startTestServer, type TestServer } from "./support/test_server.ts";

const DOMAIN = "example.test";
const ALICE = { user: "alice", domain: DOMAIN, password: "alice-secret" };
const BOB = { user: "bob", domain: DOMAIN, password: "bob-secret" };
const CAROL = { user: "carol", domain: DOMAIN, password: "carol-secret" };
const ACCOUNTS = [ALICE, BOB, CAROL];
const BOB_URI = `sip:bob@${DOMAIN}`;

/** One JsSIP user agent in its own page, with its console (SIP trace) captured. */
interface Agent {
  name: string;
  page: Page;
  log: string[];
}

/** A server with UDP, WS and WSS plus a browser that reaches its WS and WSS ports. */
interface Rig {
  ts: TestServer;
  browser: BrowserHandle;
  agents: Agent[];
  dialogEvents: { callId: string; state: string }[];
  /** The last lines of every page's console, for assertion messages. */
  trace(lines?: number): string;
  /** A page registered as `account` over `transport`. */
  agent(
    name: string,
    account: { user: string; password: string },
    transport: "ws" | "wss",
  ): Promise<Agent>;
  close(): Promise<void>;
}

async function startRig(): Promise<Rig> {
  // The server's default challenge set (MD5 and SHA-256): browsers must cope as shipped.
  const ts = await startTestServer({
    transports: ["udp", "ws", "wss"],
    accounts: ACCOUNTS,
    configure: rfcTimers,
  });
  let browser: BrowserHandle;
  try {
    browser = await launchBrowser({ relayPorts: [ts.port("ws"), ts.port("wss")] });
  } catch (e) {
    await ts.stop();
    throw e;
  }
  const agents: Agent[] = [];
  const dialogEvents: { callId: string; state: string }[] = [];
  const off = ts.server.events.on(
    "dialog.changed",
    (e: Extract<SipwsEvent, { type: "dialog.changed" }>) =>
      dialogEvents.push({ callId: e.callId, state: e.state }),
  );
  const rig: Rig = {
    ts,
    browser,
    agents,
    dialogEvents,
    trace(lines = 120) {
      return agents.map((a) =>
        `===== ${a.name} page console (last ${lines} lines) =====\n` +
        a.log.slice(-lines).join("\n")
      ).join("\n");
    },
    async agent(name, account, transport) {
      const page = await browser.newPage();
      const log = capturePageLog(page);
      const agent = { name, page, log };
      agents.push(agent);
      await installJsSip(page);
      const outcome = await startUa(page, {
        wsUrl: `${transport}://127.0.0.1:${ts.port(transport)}`,
        uri: `sip:${account.user}@${DOMAIN}`,
        password: account.password,
      });
      assert.equal(outcome, "registered", `${name} registration\n${rig.trace()}`);
      return agent;
    },
    async close() {
      off();
      // In parallel: JsSIP waits up to 2 s for its un-REGISTER before closing the socket.
      await Promise.all(agents.map((a) => stopUa(a.page)));
      await browser.close();
      await ts.stop();
    },
  };
  return rig;
}

/**
 * A test with its own rig, closed however the test ends. Playwright keeps timers and pipes
 * beyond one test's op accounting, hence no op/resource sanitizers.
 */
function browserTest(name: string, fn: (rig: Rig) => Promise<void>): void {
  Deno.test({
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const rig = await startRig();
      try {
        await fn(rig);
      } finally {
        await rig.close();
      }
    },
  });
}

/**
 * Wait until `callee` has an incoming session; fail at once, with the trace, when the
 * caller's session `out` fails or ends first (e.g. the proxy refused the INVITE).
 */
function waitRinging(rig: Rig, callee: Agent, caller: Agent, out: number): Promise<SessionInfo> {
  let callerEnd: SessionEvent | undefined;
  return until(
    `${callee.name} ringing`,
    async () => {
      callerEnd = (await session(caller.page, out)).events
        .find((e) => e.name === "failed" || e.name === "ended");
      if (callerEnd) {
        throw new Error(
          `${caller.name}'s call ended before ${callee.name} rang: ${JSON.stringify(callerEnd)}` +
            `\n${rig.trace()}`,
        );
      }
      return (await sessions(callee.page))[0];
    },
    10_000,
    rig.trace,
  );
}

/**
 * Host, port and transport of each Record-Route entry in the 200 to `a`'s INVITE, as its
 * trace shows them, callee side first.
 */
function recordRouteOf200(a: Agent): string[] {
  const ok = sipTrace(a.log).find((m) =>
    m.direction === "received" && m.startLine.startsWith("SIP/2.0 200") &&
    /\nCSeq: \d+ INVITE\n/.test(m.text)
  );
  assert.ok(ok, `${a.name}'s trace has the 200 to its INVITE`);
  return headerValues(ok, "Record-Route").map((v) => {
    const m = /^<sip:([^;>]+)(?:;[^>]*)?>/.exec(v);
    const transport = /;transport=([a-z]+)/i.exec(v)?.[1];
    assert.ok(m && /;lr\b/.test(v), `loose-routing Record-Route: ${v}`);
    return `${m[1]};transport=${transport}`;
  });
}

/** RFC 7118 browsers drop responses with more than one Via: every one must have exactly one. */
function assertOneViaPerResponse(rig: Rig): void {
  let seen = 0;
  for (const a of rig.agents) {
    for (const m of sipTrace(a.log)) {
      if (m.direction !== "received" || !m.startLine.startsWith("SIP/2.0")) continue;
      seen++;
      assert.equal(headerValues(m, "Via").length, 1, `${a.name} got:\n${m.text}`);
    }
  }
  assert.ok(seen > 0, "the traces hold responses");
}

/** Waits for session `id` of `a` to settle and asserts it was confirmed (2xx + ACK). */
async function assertConfirmed(rig: Rig, a: Agent, id: number, what = a.name): Promise<void> {
  const ev = await waitSessionEvent(
    a.page,
    id,
    ["confirmed", "failed", "ended"],
    10_000,
    rig.trace,
  );
  assert.equal(ev.name, "confirmed", `${what}: ${JSON.stringify(ev)}\n${rig.trace()}`);
}

/** Waits for session `id` of `a` to end and asserts it ended normally, by `originator`. */
async function assertEnded(
  rig: Rig,
  a: Agent,
  id: number,
  originator: "local" | "remote",
  timeoutMs = 10_000,
): Promise<SessionEvent> {
  const end = await waitSessionEvent(a.page, id, ["ended", "failed"], timeoutMs, rig.trace);
  assert.deepEqual([end.name, end.originator], ["ended", originator], rig.trace());
  return end;
}

/** Waits until RTP arrived at session `id` of `a` (with the trace on failure). */
function waitForRtp(rig: Rig, a: Agent, id: number): Promise<RtpStats> {
  return waitForRtpAt(a.page, id, a.name, rig.trace);
}

browserTest(
  "browser call: WS ↔ WSS, ICE on 127.0.0.1, RTP both ways, hold re-INVITE, BYE",
  async (rig) => {
    const alice = await rig.agent("alice(ws)", ALICE, "ws");
    const bob = await rig.agent("bob(wss)", BOB, "wss");
    const out = await call(alice.page, BOB_URI);
    const incoming = await waitRinging(rig, bob, alice, out);
    assert.equal(incoming.direction, "incoming");
    await answer(bob.page, 0);

    for (const [a, id] of [[alice, out], [bob, 0]] as const) await assertConfirmed(rig, a, id);
    // WS in, WSS out: the proxy records a route for each leg (RFC 3261 §16.6 item 4).
    assert.deepEqual(recordRouteOf200(alice), [
      `127.0.0.1:${rig.ts.port("wss")};transport=wss`,
      `127.0.0.1:${rig.ts.port("ws")};transport=ws`,
    ]);
    const callId = (await session(alice.page, out)).callId;
    assert.ok(callId, "outgoing session has a Call-ID");
    assert.equal((await session(bob.page, 0)).callId, callId, "same Call-ID end to end");

    // Media: ICE connects on loopback and RTP arrives on both sides.
    const aliceRtp = await waitForRtp(rig, alice, out);
    const bobRtp = await waitForRtp(rig, bob, 0);
    for (const [name, s] of [["alice", aliceRtp], ["bob", bobRtp]] as const) {
      assert.equal(s.connectionState, "connected", `${name}: ${JSON.stringify(s)}`);
      assert.equal(s.localAddress, "127.0.0.1", `${name}: ${JSON.stringify(s)}`);
      assert.equal(s.remoteAddress, "127.0.0.1", `${name}: ${JSON.stringify(s)}`);
      assert.ok(s.packetsReceived > 0 && s.packetsSent > 0, `${name}: ${JSON.stringify(s)}`);
    }

    // The server's dialog tracker shows the call confirmed, with both legs.
    const dialog = rig.ts.server.dialogs.list().find((d) => d.callId === callId);
    assert.equal(dialog?.state, "confirmed", JSON.stringify(rig.ts.server.dialogs.list()));
    assert.equal(dialog.caller.transport, "ws");
    assert.equal(dialog.callee?.transport, "wss");

    // Hold: a re-INVITE with a=sendonly through the proxy, answered 200 by bob.
    assert.equal(await hold(alice.page, out), "succeeded", rig.trace());
    const held = await waitSessionEvent(bob.page, 0, ["hold"], 10_000, rig.trace);
    assert.equal(held.originator, "remote");
    assert.equal((await session(bob.page, 0)).onHold.remote, true);
    const aliceHeld = await session(alice.page, out);
    assert.equal(aliceHeld.onHold.local, true);
    assert.equal(aliceHeld.isEstablished, true, "the call survives the re-INVITE");
    assert.equal((await session(bob.page, 0)).isEstablished, true);

    // BYE from alice ends the call on both sides.
    await terminate(alice.page, out);
    await assertEnded(rig, alice, out, "local");
    const bobEnd = await assertEnded(rig, bob, 0, "remote");
    assert.equal(bobEnd.cause, "Terminated");
    assertOneViaPerResponse(rig);

    {
      const states = await until(
        "dialog terminated",
        () => {
          const seen = rig.dialogEvents.filter((e) => e.callId === callId).map((e) => e.state);
          return seen.includes("terminated") ? seen : undefined;
        },
        5000,
        () => JSON.stringify(rig.dialogEvents),
      );
      assert.ok(
        states.indexOf("confirmed") >= 0 &&
          states.indexOf("confirmed") < states.indexOf("terminated"),
        `dialog.changed states: ${states.join(", ")}`,
      );
    }
  },
);

browserTest("browser MESSAGE: alice (ws) → bob (wss) is delivered with its body", async (rig) => {
  const alice = await rig.agent("alice(ws)", ALICE, "ws");
  const bob = await rig.agent("bob(wss)", BOB, "wss");
  const body = `hello from alice ${crypto.randomUUID()}`;
  const sent = await sendMessage(alice.page, BOB_URI, body);
  assert.match(sent, /^succeeded 2\d\d$/, `${sent}\n${rig.trace()}`);
  const got = await until(
    "MESSAGE at bob",
    async () => {
      const m = await messages(bob.page);
      return m.length > 0 ? m : undefined;
    },
    5000,
    rig.trace,
  );
  assert.equal(got.length, 1);
  assert.equal(got[0].body, body);
  assert.equal(got[0].from, `sip:alice@${DOMAIN}`);
});

browserTest(
  "browser → sipp UAS on UDP: INVITE, 180, 200, ACK, BYE through the proxy",
  async (rig) => {
    const sippPort = freePort("udp");
    const registrar = await TestSipClient.connect("udp", rig.ts.port("udp"));
    let uas: Awaited<ReturnType<typeof startSipp>> | undefined;
    try {
      const reg = await register(registrar, {
        ...BOB,
        contact: `sip:bob@127.0.0.1:${sippPort}`,
      });
      assert.equal(reg.status, 200, "sipp UAS contact registered for bob");
      uas = await startWebRtcPhone(sippPort);

      const alice = await rig.agent("alice(wss)", ALICE, "wss");
      const out = await call(alice.page, BOB_URI);
      await assertConfirmed(rig, alice, out);
      // WSS in, UDP out: two Record-Route entries (one per transport, as a multi-homed proxy).
      assert.deepEqual(recordRouteOf200(alice), [
        `127.0.0.1:${rig.ts.port("udp")};transport=udp`,
        `127.0.0.1:${rig.ts.port("wss")};transport=wss`,
      ]);
      const progress = (await session(alice.page, out)).events.find((e) => e.name === "progress");
      assert.equal(progress?.status, 180, "the 180 reached the browser");

      await terminate(alice.page, out);
      await assertEnded(rig, alice, out, "local");
      const result = await uas.result();
      assert.equal(result.code, 0, `${describeSipp(result)}\n${rig.trace()}`);
      assert.equal(result.stats?.successfulCalls, 1, describeSipp(result));
      assertOneViaPerResponse(rig);
    } finally {
      registrar.close();
      await uas?.stop();
    }
  },
);

browserTest(
  "sipp UAC on UDP → browser: INVITE (407 answered), browser answers, ACK, BYE",
  async (rig) => {
    let uac: Awaited<ReturnType<typeof startSipp>> | undefined;
    try {
      const bob = await rig.agent("bob(ws)", BOB, "ws");
      uac = await startSipp({
        scenarioXml: uacScenario(BOB_URI, DOMAIN),
        args: callerArgs({
          server: `127.0.0.1:${rig.ts.port("udp")}`,
          port: freePort("udp"),
          account: CAROL,
        }),
        calls: 1,
        timeoutMs: 30_000,
      });
      const incoming = await waitSession(bob.page, 0, 10_000).catch(async (e) => {
        const r = await uac!.stop();
        throw new Error(`browser never saw the INVITE: ${e.message}\n${describeSipp(r)}`);
      });
      assert.equal(incoming.direction, "incoming");
      await answer(bob.page, 0);
      await assertConfirmed(rig, bob, 0, "ACK reached the browser").catch(async (e) => {
        const r = await uac!.stop();
        throw new Error(`${e.message}\n${describeSipp(r)}`);
      });
      await assertEnded(rig, bob, 0, "remote", 15_000); // sipp's BYE ended it
      const result = await uac.result();
      assert.equal(result.code, 0, `${describeSipp(result)}\n${rig.trace()}`);
      // carol is a local user: the proxy must have challenged her INVITE (proxy authentication of local callers).
      assert.match(result.stdout, /^\s*407 <-+\s+1\s/m, "sipp's INVITE was challenged");
      assert.equal(result.stats?.successfulCalls, 1, describeSipp(result));
    } finally {
      await uac?.stop();
    }
  },
);

browserTest(
  "forking: bob registered twice rings both, first answer wins, other is cancelled",
  async (rig) => {
    const bob1 = await rig.agent("bob#1(ws)", BOB, "ws");
    const bob2 = await rig.agent("bob#2(wss)", BOB, "wss");
    assert.equal(rig.ts.server.location.lookup(`bob@${DOMAIN}`).length, 2, "two bindings");
    const alice = await rig.agent("alice(ws)", ALICE, "ws");
    const out = await call(alice.page, BOB_URI);
    for (const b of [bob1, bob2]) await waitRinging(rig, b, alice, out);
    await answer(bob1.page, 0);
    await assertConfirmed(rig, alice, out);
    const winner = await waitSessionEvent(bob1.page, 0, ["confirmed", "failed", "ended"]);
    assert.equal(winner.name, "confirmed");
    const loser = await waitSessionEvent(bob2.page, 0, ["failed", "ended"], 10_000, rig.trace);
    // Never answered, so the branch can only end by a CANCEL from the proxy.
    assert.deepEqual(
      [loser.name, loser.originator, loser.cause],
      ["failed", "remote", "Canceled"],
      `the other branch is cancelled\n${rig.trace()}`,
    );
    assert.ok(
      sipTrace(bob2.log).some((m) =>
        m.direction === "received" && m.startLine.startsWith("CANCEL ")
      ),
      "bob#2 received a CANCEL",
    );
    assert.equal((await session(bob2.page, 0)).isEnded, true);

    await terminate(alice.page, out);
    await assertEnded(rig, bob1, 0, "remote");
    assertOneViaPerResponse(rig);
  },
);
