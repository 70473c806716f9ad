/**
 * @module Test clients whose connection lives in a chosen SIP worker. The kernel spreads
 * connections over the workers' listeners (`SO_REUSEPORT`), so a client is connected and
 * registered until its binding names the worker wanted; a REGISTER read from a connection is
 * handled by the worker holding it, so the binding is made there too. Test traffic only;
 * asserts nothing but the 200 each registration must get.
 */
import assert from "node:assert/strict";
import {
  type ClientTransport,
  register,
  type RegisterOptions,
  registerRequest,
  TestSipClient,
} from "./sip_client.ts";
import { until } from "./poll.ts";
import { countersOf, type TestServer } from "./test_server.ts";

/**
 * A `transport` client of `ts` registered as `o` whose connection (and binding) lives in
 * `worker` (0: the main thread). Every other try's binding is removed before this returns, so
 * the AOR's bindings are those made before and this client's.
 */
export async function registeredIn(
  ts: TestServer,
  transport: Exclude<ClientTransport, "udp">,
  worker: number,
  o: RegisterOptions,
): Promise<TestSipClient> {
  const aor = `${o.user}@${o.domain}`;
  for (let attempt = 0; attempt < 40; attempt++) {
    const client = await TestSipClient.connect(transport, ts.port(transport), ts.config.interface);
    // A Call-ID of its own names this try's binding among the AOR's.
    const callId = `${o.callId ?? "placed"}-${attempt}-${crypto.randomUUID().slice(0, 8)}`;
    const ok = await register(client, { ...o, callId }, 5000);
    assert.equal(ok.status, 200, `${o.user} registers over ${transport}`);
    const binding = () => ts.server.location.lookup(aor).find((b) => b.callId === callId);
    // The binding reaches main's copy right after the 200 (one message between threads).
    const held = await until("the binding in main's copy", () => {
      const found = binding();
      return found && (found.flow.owner?.worker ?? 0);
    });
    if (held === worker) return client;
    // Unregistered first: a TCP binding may outlive its connection (`tcp_bindings`).
    const removed = await register(client, { ...o, callId, expires: 0 }, 5000);
    assert.equal(removed.status, 200, `${o.user} unregisters over ${transport}`);
    client.close();
    await until("the binding gone", () => binding() ? undefined : true);
  }
  throw new Error(`no ${transport} connection landed in worker ${worker}`);
}

/**
 * A `transport` client of `ts` whose connection lives in `worker` (0: the main thread),
 * found in main's list of every worker's connections by its port; nothing is sent on it, so
 * its address has not authenticated. The other tries are closed.
 */
export async function connectedIn(
  ts: TestServer,
  transport: "tcp" | "tls",
  worker: number,
): Promise<TestSipClient> {
  for (let attempt = 0; attempt < 40; attempt++) {
    const client = await TestSipClient.connect(transport, ts.port(transport), ts.config.interface);
    const held = await until("the connection in main's list", () => {
      const found = ts.server.transport.connections()
        .find((c) => c.flow.remote.port === client.localPort);
      return found && (found.flow.owner?.worker ?? 0);
    });
    if (held === worker) return client;
    client.close();
    await client.closed;
  }
  throw new Error(`no ${transport} connection landed in worker ${worker}`);
}

/**
 * Datagrams each of the `workers` threads of `ts` read from its UDP socket so far
 * (`sip_udp_read_total` by worker, every worker's counts in), index 0 the main thread.
 */
export async function readsOf(ts: TestServer, workers: number): Promise<number[]> {
  const counters = await countersOf(ts);
  return Array.from(
    { length: workers },
    (_, w) => counters.total("sip_udp_read_total", { worker: `${w}` }),
  );
}

/**
 * A UDP client of `ts` whose REGISTERs the socket of thread `worker` of `workers` reads (0: the
 * main thread; the kernel picks the socket by the client's source port), found with a
 * REGISTER without credentials per try (answered 401). The other tries are closed.
 */
export async function udpClientIn(
  ts: TestServer,
  workers: number,
  worker: number,
  o: RegisterOptions,
): Promise<TestSipClient> {
  for (let attempt = 0; attempt < 40; attempt++) {
    const client = await TestSipClient.connect("udp", ts.port("udp"), ts.config.interface);
    const before = await readsOf(ts, workers);
    const callId = `placed-udp-${attempt}-${crypto.randomUUID().slice(0, 8)}`;
    await client.send(registerRequest(client, { ...o, callId }, 1));
    assert.equal((await client.response(callId, 1, 5000)).status, 401, "REGISTER challenged");
    const after = await readsOf(ts, workers);
    if (after[worker] > before[worker]) return client;
    client.close();
  }
  throw new Error(`no UDP source port landed on the socket of worker ${worker}`);
}
