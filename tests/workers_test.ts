/**
 * Two SIP workers (`workers = 2`: the main thread and one worker thread) serve as one
 * server, over real sockets. Every message of a call is handled by the worker its Call-ID
 * hashes to, so each test picks Call-IDs for a given worker, and connections (which the kernel
 * spreads over the workers) are opened until one lives in the worker wanted. A REGISTER is
 * handled where it is read: over UDP by the thread whose socket the kernel gave it (by the
 * client's source port; a worker thread with 3), over a connection by the worker holding it. A UDP phone registered through one
 * worker is called from a WS browser whose connection lives in another; CANCEL and the ACKs of
 * 2xx and non-2xx reach the right transaction whichever worker receives them; a binding removed
 * through the API is gone in every worker; the API counts what every worker did; the operator's
 * WebSocket switch holds in every worker; stopping drains every worker.
 */
import assert from "node:assert/strict";
import { startHttpApi } from "../src/api/http_server.ts";
import type { SipRequest, SipResponse } from "../src/sip/message.ts";
import type { WsClosed } from "../src/events.ts";
import { countersOf, startTestServer, type TestServer } from "./support/test_server.ts";
import { optionsRequest, register, TestSipClient } from "./support/sip_client.ts";
import { registeredIn, udpClientIn } from "./support/placed_client.ts";
import { handshake } from "./support/ws_handshake.ts";
import { RawWsClient } from "./support/raw_ws.ts";
import { until } from "./support/poll.ts";
import {
  type Call,
  callIdFor,
  inviteWithAuth,
  isReq,
  isRes,
  sipReply,
  sipRequest,
} from "./support/sip_call.ts";
import { ALICE, BOB, CAROL, DOMAIN } from "./support/accounts.ts";

const KEY = "workers-test-key";

function startTwoWorkers(): Promise<TestServer> {
  return startTestServer({
    transports: ["udp", "tcp", "ws"],
    accounts: [ALICE, BOB, CAROL],
    configure: (c) => {
      c.workers = 2;
      c.keys = [KEY];
      c.ping.interval = 0;
      // Placing a client in a worker (registeredIn) tries connections until one lands there,
      // up to 4 REGISTERs a try, all from 127.0.0.1: a run of unlucky tries crossed the
      // per-source limit (50/s), so the REGISTER got 503 or a later request was dropped.
      c.abuse.rateLimit = 0;
    },
  });
}

function startThreeWorkers(): Promise<TestServer> {
  return startTestServer({
    transports: ["udp", "ws"],
    accounts: [ALICE, BOB],
    configure: (c) => {
      c.workers = 3;
      c.keys = [KEY];
      c.ping.interval = 0;
      // Placing a client in a worker (registeredIn) tries connections until one lands there,
      // up to 4 REGISTERs a try, all from 127.0.0.1: a run of unlucky tries crossed the
      // per-source limit (50/s), so the REGISTER got 503 or a later request was dropped.
      c.abuse.rateLimit = 0;
    },
  });
}

/** True when `value` is undefined: what `until` waits for when something must go. */
const gone = (value: unknown) => value === undefined || undefined;

/** A WS client registered as `who` whose connection (and so its binding) lives in `worker`. */
function wsClientIn(ts: TestServer, worker: number, who: typeof ALICE): Promise<TestSipClient> {
  return registeredIn(ts, "ws", worker, { ...who, expires: 600 });
}

/**
 * A UDP phone registered as `who` through thread `reader` of `workers`: a REGISTER is read by
 * the socket the kernel picks by the client's source port, and handled there (with 3 workers
 * or more, by a worker thread: the main thread only dispatches).
 */
async function udpPhone(
  ts: TestServer,
  who: typeof BOB,
  reader = 0,
  workers = 2,
): Promise<TestSipClient> {
  const phone = await udpClientIn(ts, workers, reader, who);
  const ok = await register(phone, { ...who, expires: 600, callId: `reg-${crypto.randomUUID()}` });
  assert.equal(ok.status, 200, `${who.user} registers over udp`);
  return phone;
}

for (const callWorker of [0, 1]) {
  Deno.test(`workers: a UDP phone registered through the main thread is called at once from a WS browser in worker 1, on a call worker ${callWorker} owns; ACK for 2xx and BYE cross back`, async () => {
    await using ts = await startTwoWorkers();
    const bob = await udpPhone(ts, BOB);
    const alice = await wsClientIn(ts, 1, ALICE);
    try {
      // Owned by the phone's worker (main), or by the browser's (the phone's binding copied there).
      const call: Call = { callId: callIdFor(callWorker, "call"), fromTag: "a1", cseq: 1 };
      await inviteWithAuth(alice, call, ALICE, `sip:bob@${DOMAIN}`);
      const invite = await bob.wait(isReq("INVITE", call.callId)) as SipRequest;
      assert.equal(invite.uri, bob.contactUri);
      const rr = invite.getAll("record-route").map((r) => `Record-Route: ${r}`);
      const bobContact = `sip:bob@127.0.0.1:${bob.localPort}`;
      await bob.send(sipReply(invite, 180, "Ringing", { toTag: "b1", extra: rr }));
      await alice.wait(isRes(180, call.callId));
      await bob.send(
        sipReply(invite, 200, "OK", { toTag: "b1", extra: [...rr, `Contact: <${bobContact}>`] }),
      );
      const ok = await alice.wait(isRes(200, call.callId)) as SipResponse;
      // Main's tracker, read as soon as the caller has the answer, has the worker's view (it
      // may still be in main's ring: a read applies the ring first).
      assert.equal(ts.server.dialogs.get(call.callId)?.state, "confirmed");
      const routes = [...ok.getAll("record-route")].reverse().map((r) => `Route: ${r}`);
      const from = `<sip:alice@${DOMAIN}>;tag=${call.fromTag}`;
      const to = ok.get("to")!;
      await alice.send(
        sipRequest(alice, { method: "ACK", uri: bobContact, from, to, call, extra: routes }),
      );
      const ack = await bob.wait(isReq("ACK", call.callId));
      assert.equal(ack.cseq.seq, call.cseq, "the ACK for the 2xx reaches the phone");

      // The phone hangs up: the BYE finds the browser's connection in the other worker.
      const bye = [
        `BYE sip:xyz@abc123.invalid;transport=ws SIP/2.0`,
        `Via: ${bob.via};branch=z9hG4bK-bye-${crypto.randomUUID().slice(0, 8)};rport`,
        "Max-Forwards: 70",
        `From: ${to}`,
        `To: ${from}`,
        `Call-ID: ${call.callId}`,
        "CSeq: 1 BYE",
        ...invite.getAll("record-route").map((r) => `Route: ${r}`),
        "Content-Length: 0",
        "",
        "",
      ].join("\r\n");
      await bob.send(bye);
      const byeIn = await alice.wait(isReq("BYE", call.callId)) as SipRequest;
      await alice.send(sipReply(byeIn, 200, "OK"));
      const byeOk = await bob.wait(isRes(200, call.callId, "BYE")) as SipResponse;
      assert.equal(byeOk.status, 200);
      assert.equal(ts.server.dialogs.get(call.callId)?.state, "terminated");
    } finally {
      alice.close();
      bob.close();
    }
  });
}

Deno.test("workers = 3: the main thread only dispatches; a WS browser in worker 2 calls a UDP phone registered through worker 1 on a call worker 1 owns (hand-overs between worker threads go straight)", async () => {
  await using ts = await startThreeWorkers();
  const bob = await udpPhone(ts, BOB, 1, 3);
  const alice = await wsClientIn(ts, 2, ALICE);
  try {
    const call: Call = { callId: callIdFor(1, "call3", 3), fromTag: "a3", cseq: 1 };
    await inviteWithAuth(alice, call, ALICE, `sip:bob@${DOMAIN}`);
    const invite = await bob.wait(isReq("INVITE", call.callId)) as SipRequest;
    const rr = invite.getAll("record-route").map((r) => `Record-Route: ${r}`);
    const bobContact = `sip:bob@127.0.0.1:${bob.localPort}`;
    await bob.send(
      sipReply(invite, 200, "OK", { toTag: "b3", extra: [...rr, `Contact: <${bobContact}>`] }),
    );
    const ok = await alice.wait(isRes(200, call.callId)) as SipResponse;
    const routes = [...ok.getAll("record-route")].reverse().map((r) => `Route: ${r}`);
    const from = `<sip:alice@${DOMAIN}>;tag=${call.fromTag}`;
    await alice.send(
      sipRequest(alice, {
        method: "ACK",
        uri: bobContact,
        from,
        to: ok.get("to")!,
        call,
        extra: routes,
      }),
    );
    const ack = await bob.wait(isReq("ACK", call.callId));
    assert.equal(ack.cseq.seq, call.cseq, "the ACK for the 2xx reaches the phone");
  } finally {
    alice.close();
    bob.close();
  }
});

Deno.test("workers: CANCEL from a browser in the other worker reaches the INVITE's transaction; the ACK of the 487 is absorbed where the transaction lives", async () => {
  await using ts = await startTwoWorkers();
  const bob = await udpPhone(ts, BOB);
  const alice = await wsClientIn(ts, 0, ALICE);
  const carol = await TestSipClient.connect("udp", ts.port("udp"));
  try {
    // WS browser in worker 0 cancels a call worker 1 owns.
    const call: Call = { callId: callIdFor(1, "cancel"), fromTag: "a2", cseq: 1 };
    await inviteWithAuth(alice, call, ALICE, `sip:bob@${DOMAIN}`);
    const invite = await bob.wait(isReq("INVITE", call.callId)) as SipRequest;
    await bob.send(sipReply(invite, 180, "Ringing", { toTag: "b2" }));
    const ringing = await alice.wait(isRes(180, call.callId)) as SipResponse;
    const inviteBranch = /branch=([^;]+)/.exec(ringing.getAll("via")[0])![1];
    const from = `<sip:alice@${DOMAIN}>;tag=${call.fromTag}`;
    const target = `sip:bob@${DOMAIN}`;
    const cancel = { method: "CANCEL", uri: target, from, to: `<${target}>`, call };
    await alice.send(sipRequest(alice, { ...cancel, branch: inviteBranch }));
    const cancelOk = await alice.wait(isRes(200, call.callId, "CANCEL")) as SipResponse;
    assert.equal(cancelOk.status, 200, "the CANCEL matched the INVITE's server transaction");
    const cancelOut = await bob.wait(isReq("CANCEL", call.callId)) as SipRequest;
    await bob.send(sipReply(cancelOut, 200, "OK"));
    await bob.send(sipReply(invite, 487, "Request Terminated", { toTag: "b2" }));
    // The 487 reached the client transaction: it ACKs the phone hop by hop.
    const ackToPhone = await bob.wait(isReq("ACK", call.callId));
    assert.equal(ackToPhone.cseq.seq, invite.cseq.seq);
    const terminated = await alice.wait(isRes(487, call.callId)) as SipResponse;
    assert.equal(terminated.status, 487);

    // A UDP caller (datagrams arrive at the main thread) whose call worker 1 owns: without
    // its ACK the 487 would be retransmitted (Timer G) until Timer H; with it they stop.
    const call2: Call = { callId: callIdFor(1, "nack"), fromTag: "c1", cseq: 1 };
    await inviteWithAuth(carol, call2, CAROL, target);
    const invite2 = await bob.wait(isReq("INVITE", call2.callId)) as SipRequest;
    await bob.send(sipReply(invite2, 486, "Busy Here", { toTag: "b3" }));
    const busy = await carol.wait(isRes(486, call2.callId)) as SipResponse;
    const busyAt = Date.now();
    const busyBranch = /branch=([^;]+)/.exec(busy.getAll("via")[0])![1];
    await carol.send(
      sipRequest(carol, {
        method: "ACK",
        uri: target,
        from: `<sip:carol@${DOMAIN}>;tag=${call2.fromTag}`,
        to: busy.get("to")!,
        call: call2,
        branch: busyBranch,
      }),
    );
    // Without the ACK the 486 comes again at least every T2 until Timer H (64·T1): quiet for
    // 2·T2 from a copy at most 64·T1 - 4·T2 in, the 486 was stopped by the ACK. Copies sent
    // before the ACK reached the worker (T1 is 50 ms, a loaded machine is slower) may come.
    const { t1, t2 } = ts.config.sip;
    const lastCopyMs = 64 * t1 - 4 * t2;
    let late = 0;
    for (;;) {
      try {
        await carol.wait(isRes(486, call2.callId), 2 * t2);
      } catch {
        break; // quiet for 2·T2
      }
      late++;
      const at = Date.now() - busyAt;
      assert.ok(at <= lastCopyMs, `the 486 came ${late} more times, until ${at} ms`);
    }
    assert.equal((await countersOf(ts)).total("sip_stray_responses_total"), 0);
  } finally {
    alice.close();
    bob.close();
    carol.close();
  }
});

Deno.test("workers: a binding removed through the API is gone in every worker; the API counts every worker's messages", async () => {
  await using ts = await startTwoWorkers();
  const http = startHttpApi(ts.server, 0, "127.0.0.1");
  // Bob's binding is made by the main thread (UDP), Alice's by worker 1 (her connection's).
  const bob = await udpPhone(ts, BOB);
  const alice = await wsClientIn(ts, 1, ALICE);
  const carol = await TestSipClient.connect("udp", ts.port("udp"));
  try {
    const api = (method: string, path: string) =>
      fetch(`http://127.0.0.1:${http.port}${path}`, {
        method,
        headers: { authorization: `Bearer ${KEY}` },
      });
    const listed = await (await api("GET", "/bindings")).json();
    assert.equal(listed.count, 2);
    for (const binding of listed.bindings) {
      assert.equal((await api("DELETE", `/bindings/${binding.id}`)).status, 204);
    }

    for (const worker of [0, 1]) {
      for (const callee of ["bob", "alice"]) {
        const callId = callIdFor(worker, "gone");
        const call: Call = { callId, fromTag: `c${worker}`, cseq: 1 };
        await inviteWithAuth(carol, call, CAROL, `sip:${callee}@${DOMAIN}`);
        const final = await carol.response(call.callId, call.cseq);
        assert.equal(final.status, 480, `worker ${worker} no longer routes to ${callee}`);
      }
    }
    await assert.rejects(bob.wait(isReq("INVITE"), 300), "the phone is not called");
    await assert.rejects(alice.wait(isReq("INVITE"), 300), "the browser is not called");
    // Half the INVITEs were handled by worker 1; main's counters include them once synced.
    const invites = (await countersOf(ts)).total("sip_messages_in_total", { method: "INVITE" });
    assert.equal(invites, 8, "each call's challenge round and authenticated INVITE, both counted");
  } finally {
    alice.close();
    bob.close();
    carol.close();
    await http.close();
  }
});

Deno.test("workers: stopping drains every worker: 503 for new work there, a call being set up in the worker thread completes", async () => {
  const ts = await startTwoWorkers();
  const bob = await udpPhone(ts, BOB);
  const carol = await TestSipClient.connect("udp", ts.port("udp"));
  try {
    const call: Call = { callId: callIdFor(1, "drain"), fromTag: "c9", cseq: 1 };
    await inviteWithAuth(carol, call, CAROL, `sip:bob@${DOMAIN}`);
    const invite = await bob.wait(isReq("INVITE", call.callId)) as SipRequest;
    await bob.send(sipReply(invite, 180, "Ringing", { toTag: "b9" }));
    await carol.wait(isRes(180, call.callId));

    // Grace long enough for the steps below on a loaded machine; the stop ends once the
    // call is answered, not after the grace.
    const stopped = ts.stop(15_000);
    const refused = await register(carol, { ...CAROL, expires: 600 });
    assert.equal(refused.status, 503, "new registrations are refused");
    assert.ok(refused.get("retry-after"));
    for (const worker of [0, 1]) {
      // A request outside any dialog is new work, refused by the worker its Call-ID names.
      const callId = callIdFor(worker, "late");
      await carol.send(optionsRequest(carol, callId));
      const late = await carol.response(callId, 1, 5000);
      assert.equal(late.status, 503, `worker ${worker} refuses new work`);
      assert.ok(late.get("retry-after"));
    }
    await bob.send(sipReply(invite, 200, "OK", { toTag: "b9" }));
    const answered = await carol.wait(isRes(200, call.callId)) as SipResponse;
    assert.equal(answered.status, 200, "the pending call in worker 1 finished");
    await stopped;
  } finally {
    bob.close();
    carol.close();
  }
});

Deno.test("workers: a WebSocket closing in the worker thread gives main a ws.closed with its AORs", async () => {
  await using ts = await startTwoWorkers();
  // Worker 1 is the second thread (main is worker 0). Landing there may take attempts
  // whose connections close too: listen only once the one in worker 1 is open.
  const client = await wsClientIn(ts, 1, ALICE);
  const flow = ts.server.location.lookup(`${ALICE.user}@${ALICE.domain}`)[0].flow;
  const closed: WsClosed[] = [];
  ts.server.events.on("ws.closed", (e) => {
    if (e.closed.id === flow.id) closed.push(e.closed);
  });
  client.close();
  await until("main hears the worker's close", () => closed.length > 0 || undefined);
  assert.equal(closed.length, 1, "main heard the worker's close");
  assert.deepEqual(closed[0].aors, [`${ALICE.user}@${ALICE.domain}`]);
  assert.equal(closed[0].by, "client");
});

Deno.test("workers: WebSockets turned off by the operator are refused by every worker, and back on", async () => {
  await using ts = await startTwoWorkers();
  const statuses = async () => {
    const out = new Set<string>();
    // The kernel spreads connections over both workers' listeners: enough tries reach both.
    for (let i = 0; i < 16; i++) {
      const head = await handshake(ts.port("ws"), { "Sec-WebSocket-Protocol": "sip" });
      out.add(head.split(" ")[1]);
    }
    return [...out];
  };
  // Settled: the switch holds in the worker thread too before the next handshake.
  ts.server.transport.setWebSocketsEnabled(false);
  await ts.server.settle();
  assert.deepEqual(await statuses(), ["503"]);
  ts.server.transport.setWebSocketsEnabled(true);
  await ts.server.settle();
  assert.deepEqual(await statuses(), ["101"]);
});

Deno.test("workers: the main thread lists a connection the worker thread holds, and closes it there", async () => {
  await using ts = await startTwoWorkers();
  const alice = await wsClientIn(ts, 1, ALICE);
  try {
    const [binding] = ts.server.location.lookup(`alice@${DOMAIN}`);
    const listed = ts.server.transport.connections().find((c) => c.flow.id === binding.flow.id);
    assert.ok(listed, "the worker's WebSocket is listed by the main thread");
    assert.deepEqual(listed.flow.remote, binding.flow.remote);
    ts.server.transport.connection(binding.flow.id)!.close(1000, "bye", "admin");
    await alice.closed;
    await until(
      "the binding gone with the connection",
      () => gone(ts.server.location.lookup(`alice@${DOMAIN}`)[0]),
    );
    assert.equal(ts.server.location.lookup(`alice@${DOMAIN}`).length, 0, "its binding went too");
    assert.equal(ts.server.transport.connection(binding.flow.id), undefined);
  } finally {
    alice.close();
  }
});

Deno.test("workers: GET /ws lists every worker's connections; close and ping (a Ping frame) reach the worker holding one", async () => {
  await using ts = await startTwoWorkers();
  const http = startHttpApi(ts.server, 0, "127.0.0.1");
  const clients: RawWsClient[] = [];
  const api = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`http://127.0.0.1:${http.port}${path}`, {
      method,
      headers: { authorization: `Bearer ${KEY}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: r.status, json: await r.json() };
  };
  type Row = { id: string; remote: { port: number } };
  // Connection ids name their owner: `ws:<node>.<worker>.<run>-<n>`.
  const workerOf = (row: Row) => Number(/^ws:[^.]+\.(\d+)\./.exec(row.id)![1]);
  // The 101 is written before the connection is counted: wait for every one to be listed.
  const listAll = (count = clients.length): Promise<Row[]> =>
    until(`${count} connections listed`, async () => {
      const rows: Row[] = (await api("GET", "/ws")).json.connections;
      return rows.length === count ? rows : undefined;
    });
  try {
    // The kernel spreads connections over both workers' listeners: open until both hold one.
    let rows: Row[] = [];
    while (clients.length < 32 && new Set(rows.map(workerOf)).size < 2) {
      clients.push(await RawWsClient.connect(ts.port("ws")));
      rows = await listAll();
    }
    assert.equal(rows.length, clients.length, "one row per connection, in whichever worker");
    const metrics = await (await fetch(`http://127.0.0.1:${http.port}/metrics`, {
      headers: { authorization: `Bearer ${KEY}` },
    })).text();
    assert.match(metrics, new RegExp(`^sipws_ws_connections ${clients.length}$`, "m"));
    for (const worker of [1, 0]) {
      const row = rows.find((r) => workerOf(r) === worker)!;
      const client = clients.find((c) =>
        (c.conn.localAddr as Deno.NetAddr).port === row.remote.port
      )!;
      assert.equal((await api("POST", `/ws/${row.id}/ping`)).status, 200);
      const frame = await client.readFrame();
      assert.equal(frame?.opcode, 0x9, `worker ${worker}: an RFC 6455 Ping frame`);
      // Worker 1's with a code of ours; main's with no body: RFC 6455's 1000 by default.
      const code = worker === 1 ? 4001 : 1000;
      const body = worker === 1 ? { code, reason: "moved" } : undefined;
      const closed = await api("POST", `/ws/${row.id}/close`, body);
      assert.equal(closed.status, 200);
      assert.equal(await client.closeCode(), code, `worker ${worker} closed it`);
    }
    assert.equal((await api("POST", "/ws/ws:nobody.1.x-1/ping")).status, 404);
    await listAll(clients.length - 2);
    assert.equal((await api("GET", "/ws")).json.count, clients.length - 2, "both are gone");
  } finally {
    for (const c of clients) c.close();
    await http.close();
  }
});

Deno.test("workers: a binding made in the worker thread reaches main's copy with every field the REGISTER set (Path, instance, User-Agent, Contact parameters, flow)", async () => {
  await using ts = await startTwoWorkers();
  const instance = "<urn:uuid:00000000-0000-1000-8000-00000000b0b1>";
  // Over a connection worker 1 holds: the registrar there builds the binding.
  const phone = await registeredIn(ts, "tcp", 1, {
    ...BOB,
    expires: 600,
    contactParams: `;+sip.instance="${instance}";q=0.5`,
    extraHeaders: [
      "Supported: path",
      "Path: <sip:edge.example.test;lr>",
      "User-Agent: Zoë's phone 1.0",
    ],
  });
  try {
    const [binding] = ts.server.location.lookup(`bob@${DOMAIN}`);
    assert.ok(binding, "the binding is in main's copy once the REGISTER was answered");
    assert.equal(binding.contact, phone.contactUri);
    assert.equal(binding.instance, instance);
    assert.match(binding.contactParams, /\+sip\.instance=/);
    assert.match(binding.contactParams, /q=0\.5/);
    assert.deepEqual(binding.path, ["<sip:edge.example.test;lr>"]);
    assert.equal(binding.userAgent, "Zoë's phone 1.0");
    assert.equal(binding.contactHost, "127.0.0.1");
    assert.equal(binding.contactPort, phone.localPort);
    assert.deepEqual(binding.contactAddress, {
      transport: "tcp",
      host: "127.0.0.1",
      port: phone.localPort,
    });
    assert.equal(binding.flow.transport, "tcp");
    assert.deepEqual(binding.flow.remote, { host: "127.0.0.1", port: phone.localPort });
    assert.equal(binding.flow.reliable, true);
    assert.equal(binding.flow.owner?.worker, 1, "the flow names the worker holding it");
    assert.ok(binding.expiresAt > Date.now() + 590_000, "expires in 600 s");
    assert.equal(binding.outstandingPings, 0);
  } finally {
    phone.close();
  }
});
