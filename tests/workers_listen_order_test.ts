/**
 * With `workers = 2` the stream ports open in every worker together, once all serve: TCP
 * clients that connect as soon as the port first accepts (sipp started right after the port
 * answered, phones reconnecting after a restart) are spread over both workers by the
 * kernel's SO_REUSEPORT hash, not all kept by the main thread, whose listener used to be
 * open alone while the worker thread started. A port another socket holds stops the start
 * with an error naming the port, and frees what was bound.
 */
import assert from "node:assert/strict";
import { type Config, defaultConfig } from "../src/config/config.ts";
import { startServer } from "../src/server.ts";
import { startTestServer, type TestServer } from "./support/test_server.ts";
import { register, TestSipClient } from "./support/sip_client.ts";
import { freePorts } from "./support/ports.ts";
import { until } from "./support/poll.ts";
import { BOB } from "./support/accounts.ts";

/** With 16 clients a fair hash leaves one worker empty once in 2^15 runs. */
const CLIENTS = 16;

/** Connects to `port` every millisecond until it accepts (at most `ms`). */
async function firstAccept(port: number, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 1));
    }
  }
}

/** Registers over each client and asserts both workers hold some of their connections. */
async function assertSpread(ts: TestServer, clients: TestSipClient[]): Promise<void> {
  try {
    for (const client of clients) {
      assert.equal((await register(client, { ...BOB, expires: 600 })).status, 200);
    }
    const bindings = ts.server.location.lookup("bob@example.test");
    assert.equal(bindings.length, clients.length);
    const perWorker = [0, 0];
    for (const b of bindings) perWorker[b.flow.owner?.worker ?? 0]++;
    assert.ok(
      perWorker.every((n) => n > 0),
      `connections per worker ${perWorker.join("/")}: one worker took every early connection`,
    );
  } finally {
    for (const client of clients) client.close();
  }
}

Deno.test("workers = 2: TCP clients connecting as the port first accepts are spread over both workers", async () => {
  let config: Config | undefined;
  const starting = startTestServer({
    workers: 2,
    transports: ["udp", "tcp"],
    accounts: [BOB],
    configure: (c) => {
      c.workers = 2;
      c.ping.interval = 0;
      config = c;
    },
  });
  const port = (await until("the config", () => config?.tcpPort, 5000))!;
  await firstAccept(port);
  const clients = await Promise.all(
    Array.from({ length: CLIENTS }, () => TestSipClient.connect("tcp", port)),
  );
  await using ts = await starting;
  await assertSpread(ts, clients);
});

Deno.test("workers = 2, tcp port 0: every worker listens on the port the kernel chose", async () => {
  await using ts = await startTestServer({
    workers: 2,
    transports: ["udp", "tcp"],
    accounts: [BOB],
    configure: (c) => {
      c.workers = 2;
      c.ping.interval = 0;
      c.tcpPort = 0;
    },
  });
  const port = ts.server.transport.listening().find((l) => l.transport === "tcp")!.local.port;
  assert.notEqual(port, 0);
  const clients = await Promise.all(
    Array.from({ length: CLIENTS }, () => TestSipClient.connect("tcp", port)),
  );
  await assertSpread(ts, clients);
});

Deno.test("workers = 2: a TCP port another socket holds stops the start with an error naming it, and frees the UDP port", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sipws-listen-order-" });
  const [udpPort, tcpPort] = freePorts(2);
  const holder = Deno.listen({ hostname: "127.0.0.1", port: tcpPort });
  try {
    const config = defaultConfig();
    Object.assign(config, {
      interface: "127.0.0.1",
      storePath: `${dir}/sipws.db`,
      udpPort,
      tcpPort,
      workers: 2,
    });
    await assert.rejects(startServer(config), (error: Error) => {
      assert.match(
        error.message,
        new RegExp(`cannot listen for tcp on 127\\.0\\.0\\.1:${tcpPort}`),
      );
      return true;
    });
    // Stopped cleanly: the UDP port bound before the failure is free again.
    await until("the UDP port freed", () => {
      try {
        Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: udpPort }).close();
        return true;
      } catch {
        return undefined;
      }
    }, 3000);
  } finally {
    holder.close();
    await Deno.remove(dir, { recursive: true });
  }
});
