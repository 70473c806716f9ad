/**
 * `sip.tcp_bindings`: an ordinary RFC 3261 TCP UA (a short-lived sipp process)
 * registers from its own address and exits, closing the connection; its binding stays,
 * and a call reaches it over a new TCP connection to its Contact, where a sipp UAS now
 * listens. Flow-bound TCP bindings (Contact not the source address, RFC 5626 Outbound)
 * and every TCP binding under `tcp_bindings = "flow"` still go with their connection,
 * with a `registration.removed` (flow_closed) event, which the DELETE callback follows.
 * Pinned to one SIP worker: the single-thread path (docs/workers.md, "Tests").
 */
import assert from "node:assert/strict";
import { countersOf, startTestServer, type TestServer } from "./support/test_server.ts";
import { register, TestSipClient } from "./support/sip_client.ts";
import { callerArgs, describeSipp, runSipp, startAnsweringPhone } from "./support/sipp.ts";
import { freePorts } from "./support/ports.ts";
import { until } from "./support/poll.ts";
import { ALICE, BOB, DOMAIN } from "./support/accounts.ts";

const SCENARIOS = new URL("./support/scenarios/", import.meta.url).pathname;

/** Registers bob over a TCP connection of its own, closes it and waits until the server saw it. */
async function registerAndHangUp(
  ts: TestServer,
  contact: string,
  contactParams = "",
): Promise<void> {
  const client = await TestSipClient.connect("tcp", ts.port("tcp"));
  try {
    const ok = await register(client, { ...BOB, expires: 600, contact, contactParams });
    assert.equal(ok.status, 200);
  } finally {
    client.close();
  }
  await serverSawClose(ts);
  // With workers, what the connection's worker did on the close (bindings removed) is in.
  await ts.server.sync();
}

/** Waits until the server has seen every connection close (bounded; the box may be loaded). */
async function serverSawClose(ts: TestServer): Promise<void> {
  await until(
    "the server seeing the close",
    () => ts.server.transport.connections().length === 0 || undefined,
  );
}

const bindings = (ts: TestServer) => ts.server.location.lookup(`bob@${DOMAIN}`);

Deno.test("tcp_bindings contact: a TCP UA that hung up is called on a new connection to its Contact", async () => {
  await using ts = await startTestServer({
    workers: 1,
    transports: ["udp", "tcp"],
    accounts: [ALICE, BOB],
  });
  const [uasPort, uacPort] = freePorts(2);
  // A short-lived process registers over TCP and exits (its connection closes with it).
  const xml = await Deno.readTextFile(`${SCENARIOS}uac_register.xml`);
  const registration = await runSipp({
    scenarioXml: xml.replaceAll("@CONTACT_PORT@", String(uasPort)),
    args: callerArgs({
      server: `127.0.0.1:${ts.port("tcp")}`,
      transport: "t1",
      service: "bob",
      account: BOB,
    }),
    calls: 1,
    timeoutMs: 10_000,
  });
  assert.equal(registration.code, 0, `REGISTER failed:\n${describeSipp(registration)}`);
  await serverSawClose(ts);
  assert.equal(bindings(ts).length, 1, "the binding outlives its connection");
  assert.equal(bindings(ts)[0].contact.toLowerCase(), `sip:bob@127.0.0.1:${uasPort};transport=tcp`);
  const opened = (await countersOf(ts)).total("sip_connections_opened_total");

  await using uas = await startAnsweringPhone(uasPort, "tcp", 17_000);
  const uac = await runSipp({
    scenarioFile: `${SCENARIOS}uac_call.xml`,
    args: callerArgs({
      server: `127.0.0.1:${ts.port("udp")}`,
      port: uacPort,
      transport: "u1",
      service: "bob",
      account: ALICE,
    }),
    calls: 1,
    timeoutMs: 15_000,
  });
  const callee = await uas.result();
  assert.equal(uac.code, 0, `caller failed:\n${describeSipp(uac)}`);
  assert.equal(callee.code, 0, `callee failed:\n${describeSipp(callee)}`);
  assert.equal(callee.stats?.successfulCalls, 1, describeSipp(callee));
  assert.ok(
    (await countersOf(ts)).total("sip_connections_opened_total") > opened,
    "the INVITE went over a new connection",
  );
});

Deno.test("tcp_bindings: flow-bound TCP bindings go with their connection, with the removal event", async () => {
  await using ts = await startTestServer({ workers: 1, transports: ["tcp"], accounts: [BOB] });
  const causes: string[] = [];
  ts.server.events.on("registration.removed", (e) => causes.push(e.cause));
  const [port] = freePorts(1);
  // Contact is not the source address (127.0.0.1): a phone behind NAT, only its flow reaches it.
  await registerAndHangUp(ts, `sip:bob@127.0.0.2:${port};transport=tcp`);
  assert.equal(bindings(ts).length, 0, "Contact ≠ source: removed");
  // RFC 5626 Outbound: the flow is the binding.
  const instance = `;+sip.instance="<urn:uuid:${crypto.randomUUID()}>";reg-id=1`;
  await registerAndHangUp(ts, `sip:bob@127.0.0.1:${port};transport=tcp`, instance);
  assert.equal(bindings(ts).length, 0, "Outbound: removed");
  assert.deepEqual(causes, ["flow_closed", "flow_closed"]);
});

Deno.test('tcp_bindings = "flow": every TCP binding goes with its connection', async () => {
  await using ts = await startTestServer({
    workers: 1,
    transports: ["tcp"],
    accounts: [BOB],
    configure: (c) => c.sip.tcpBindings = "flow",
  });
  const [port] = freePorts(1);
  await registerAndHangUp(ts, `sip:bob@127.0.0.1:${port};transport=tcp`);
  assert.equal(bindings(ts).length, 0);
});

Deno.test("tcp_contact_networks: a Contact in a configured network is kept though not the source", async () => {
  await using ts = await startTestServer({
    workers: 1,
    transports: ["tcp"],
    accounts: [BOB],
    configure: (c) => c.sip.tcpContactNetworks = ["127.0.0.2/32"],
  });
  const [port] = freePorts(1);
  await registerAndHangUp(ts, `sip:bob@127.0.0.2:${port};transport=tcp`);
  assert.equal(bindings(ts).length, 1);
  await registerAndHangUp(ts, `sip:bob@127.0.0.3:${port};transport=tcp`);
  assert.equal(bindings(ts).length, 1, "127.0.0.3 is in no configured network: removed");
});
