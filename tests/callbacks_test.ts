/**
 * @module Control-server callbacks end to end: a real HTTP receiver (Deno.serve on
 * loopback) is the domain's control server; a sipws server runs in-process with UDP and WS
 * listeners. sipp registers and unregisters (PUT then DELETE), a short registration
 * expires (DELETE), a Deno WebSocket client (subprotocol "sip", digest REGISTER) drops its
 * connection (DELETE), a contact that never answers OPTIONS is removed after maxMisses
 * (DELETE, outstandingping visible on the way), and a failing control server is retried
 * with backoff and counted.
 */
import assert from "node:assert/strict";
import { callbacksOf, type ControlCallbacks } from "../src/api/callbacks.ts";
import { createApiApp } from "../src/api/app.ts";
import { metricsText } from "../src/api/metrics.ts";
import { type Config, defaultConfig } from "../src/config/config.ts";
import { type Server, startServer } from "../src/server.ts";
import { startControlApi } from "../src/api/control_api.ts";
import { createResponse, type SipMessage, type SipRequest } from "../src/sip/message.ts";
import { parseMessage } from "../src/sip/parse.ts";
import { freePort } from "./support/ports.ts";
import { describeSipp, runSipp } from "./support/sipp.ts";
import { md5RegisterAuthorization } from "./support/sip_client.ts";

const DOMAIN = "bling.test";
const USER = "1003";
const PASSWORD = "1123654789";

interface Received {
  method: string;
  path: string;
  body: string;
  at: number;
}

/** The control server: records every request; answers `failFirst` requests with 503. */
class Receiver {
  readonly received: Received[] = [];
  #server: Deno.HttpServer<Deno.NetAddr>;
  #failures: number;
  constructor(failFirst = 0) {
    this.#failures = failFirst;
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (req) => {
        const body = await req.text();
        this.received.push({
          method: req.method,
          path: new URL(req.url).pathname,
          body,
          at: Date.now(),
        });
        if (this.#failures > 0) {
          this.#failures--;
          return new Response("busy", { status: 503 });
        }
        return new Response(null, { status: 204 });
      },
    );
  }
  get url(): string {
    return `http://127.0.0.1:${this.#server.addr.port}`;
  }
  /** Waits (bounded) until `n` requests arrived. */
  async waitFor(n: number, timeoutMs = 8000): Promise<Received[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < n) {
      if (Date.now() > deadline) {
        throw new Error(
          `control server got ${this.received.length} of ${n}: ${JSON.stringify(this.received)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.received;
  }
  close(): Promise<void> {
    return this.#server.shutdown();
  }
}

interface Rig {
  server: Server;
  callbacks: ControlCallbacks;
  receiver: Receiver;
  udpPort: number;
  wsPort: number;
}

async function withRig(
  fn: (rig: Rig) => Promise<void>,
  tweak: (c: Config) => void = () => {},
  failFirst = 0,
) {
  const dir = await Deno.makeTempDir({ prefix: "sipws-cb-" });
  const receiver = new Receiver(failFirst);
  const config = defaultConfig();
  config.interface = "127.0.0.1";
  config.udpPort = 0;
  config.wsPort = 0;
  config.storePath = `${dir}/sipws.db`;
  config.keys = ["k"];
  config.ping.interval = 0;
  config.sip.minExpires = 1;
  config.callbacks = { ...config.callbacks, retries: 4, backoffMs: 50, timeoutMs: 2000 };
  tweak(config);
  const server = await startServer(config, [startControlApi]);
  // The composition root starts the callbacks; the test uses that very dispatcher.
  const callbacks = callbacksOf(server)!;
  assert.ok(callbacks, "startServer started the control callbacks");
  try {
    await server.store.putDomain({ domain: DOMAIN, control: receiver.url }, [
      { domain: DOMAIN, user: USER, password: PASSWORD },
      { domain: DOMAIN, user: "1000", password: "x" },
    ]);
    const port = (t: string) =>
      server.transport.listening().find((l) => l.transport === t)!.local.port;
    await fn({ server, callbacks, receiver, udpPort: port("udp"), wsPort: port("ws") });
  } finally {
    await server.stop();
    await receiver.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function registerXml(expires: number, unregister: boolean): string {
  const request = (cseq: number, exp: number, auth: boolean) =>
    `<send retrans="500"><![CDATA[
REGISTER sip:${DOMAIN} SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:${USER}@${DOMAIN}>;tag=[pid]SIPpTag[call_number]
To: <sip:${USER}@${DOMAIN}>
Call-ID: [call_id]
CSeq: ${cseq} REGISTER
Contact: <sip:${USER}@[local_ip]:[local_port]>
Max-Forwards: 70
Expires: ${exp}
User-Agent: sipp-control-test
${auth ? `[authentication username=${USER} password=${PASSWORD}]\n` : ""}Content-Length: 0

]]></send>`;
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="register">
${request(1, expires, false)}
<recv response="401" auth="true"/>
${request(2, expires, true)}
<recv response="200"/>
${
    unregister
      ? `<pause milliseconds="700"/>
${request(3, 0, true)}
<recv response="401" auth="true" optional="true" next="again"/>
<recv response="200" next="done"/>
<label id="again"/>
${request(4, 0, true)}
<recv response="200"/>
<label id="done"/>`
      : ""
  }
</scenario>`;
}

/** Runs one sipp REGISTER scenario against the server's UDP port; returns sipp's port. */
async function sippRegister(udpPort: number, scenarioXml: string): Promise<number> {
  const sippPort = freePort("udp");
  const result = await runSipp({
    scenarioXml,
    args: [`127.0.0.1:${udpPort}`, "-p", String(sippPort)],
    calls: 1,
    timeoutMs: 15_000,
  });
  assert.equal(result.code, 0, describeSipp(result));
  return sippPort;
}

function assertPut(r: Received, port: number, agent: string) {
  assert.equal(r.method, "PUT");
  assert.equal(r.path, `/reg/${DOMAIN}/${USER}`);
  assert.deepEqual(JSON.parse(r.body), { host: "127.0.0.1", port, agent });
}

function assertDelete(r: Received) {
  assert.equal(r.method, "DELETE");
  assert.equal(r.path, `/reg/${DOMAIN}/${USER}`);
}

Deno.test("sipp register → PUT {host, port, agent}; unregister → DELETE", async () => {
  await withRig(async ({ receiver, udpPort, server, callbacks }) => {
    const sippPort = await sippRegister(udpPort, registerXml(600, true));
    const got = await receiver.waitFor(2);
    assertPut(got[0], sippPort, "sipp-control-test");
    assertDelete(got[1]);
    await callbacks.idle();
    assert.equal(receiver.received.length, 2, "one PUT and one DELETE, no repeats");
    assert.equal(
      server.counters.total("callbacks_total", { method: "PUT", result: "delivered" }),
      1,
    );
    assert.equal(
      server.counters.total("callbacks_total", { method: "DELETE", result: "delivered" }),
      1,
    );
    const metrics = metricsText(server, { callbacksPending: callbacks.pending() });
    assert.match(metrics, /^sipws_callbacks_total\{method="DELETE",result="delivered"\} 1$/m);
  });
});

Deno.test("sipp registration that expires → DELETE after the expiry", async () => {
  await withRig(async ({ receiver, udpPort }) => {
    const started = Date.now();
    const sippPort = await sippRegister(udpPort, registerXml(2, false));
    const got = await receiver.waitFor(2, 8000);
    assertPut(got[0], sippPort, "sipp-control-test");
    assertDelete(got[1]);
    assert.ok(got[1].at - started >= 1900, `DELETE came ${got[1].at - started} ms after start`);
  });
});

/** A SIP user agent over any message pipe: REGISTER with digest, answering the 401. */
async function digestRegister(
  send: (text: string) => void,
  next: () => Promise<SipMessage>,
  opts: { transport: string; sentBy: string; contact: string; agent: string; expires?: number },
): Promise<number> {
  const callId = crypto.randomUUID();
  let authorization: string | undefined;
  for (let cseq = 1; cseq <= 3; cseq++) {
    send([
      `REGISTER sip:${DOMAIN} SIP/2.0`,
      `Via: SIP/2.0/${opts.transport} ${opts.sentBy};branch=z9hG4bK${crypto.randomUUID()};rport`,
      "Max-Forwards: 70",
      `From: <sip:${USER}@${DOMAIN}>;tag=f${cseq}`,
      `To: <sip:${USER}@${DOMAIN}>`,
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} REGISTER`,
      `Contact: <${opts.contact}>;expires=${opts.expires ?? 600}`,
      `User-Agent: ${opts.agent}`,
      ...(authorization ? [`Authorization: ${authorization}`] : []),
      "Content-Length: 0",
      "",
      "",
    ].join("\r\n"));
    let response: SipMessage;
    do response = await next(); while (response.isRequest || response.status < 200);
    if (response.status !== 401) return response.status;
    authorization = md5RegisterAuthorization(response.get("www-authenticate")!, {
      user: USER,
      password: PASSWORD,
      uri: `sip:${DOMAIN}`,
      cnonce: "0a4f113b",
    });
  }
  throw new Error("REGISTER kept being challenged");
}

/** Parsed SIP messages in arrival order; `next()` waits at most 3 s for one not yet here. */
function messageQueue(what: string): { push(m: SipMessage): void; next(): Promise<SipMessage> } {
  const queue: SipMessage[] = [];
  const waiters: ((m: SipMessage) => void)[] = [];
  return {
    push(m) {
      const w = waiters.shift();
      if (w) w(m);
      else queue.push(m);
    },
    next() {
      const m = queue.shift();
      if (m) return Promise.resolve(m);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${what} within 3 s`)), 3000);
        waiters.push((m) => {
          clearTimeout(timer);
          resolve(m);
        });
      });
    },
  };
}

/** Messages of a WebSocket, one promise per message, bounded by a timeout. */
function wsInbox(ws: WebSocket): () => Promise<SipMessage> {
  const inbox = messageQueue("WS message");
  ws.onmessage = (e) => {
    const text = typeof e.data === "string" ? e.data : new TextDecoder().decode(e.data);
    inbox.push(parseMessage(new TextEncoder().encode(text)));
  };
  return inbox.next;
}

/**
 * A UDP phone on loopback: every OPTIONS it receives goes to `onOptions` (which may answer
 * it, or not); anything else is queued for the digest REGISTER.
 */
function udpPhone(
  serverPort: number,
  onOptions: (m: SipRequest, reply: (bytes: Uint8Array) => Promise<number>) => unknown,
): { port: number; register(agent: string): Promise<number>; close(): void } {
  const socket = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  const port = (socket.addr as Deno.NetAddr).port;
  const inbox = messageQueue("UDP response");
  (async () => {
    try {
      for (;;) {
        const [bytes, from] = await socket.receive();
        const m = parseMessage(bytes);
        if (m.isRequest && m.method === "OPTIONS") await onOptions(m, (b) => socket.send(b, from));
        else inbox.push(m);
      }
    } catch { /* socket closed */ }
  })();
  return {
    port,
    register: (agent) =>
      digestRegister(
        (t) =>
          socket.send(new TextEncoder().encode(t), {
            transport: "udp",
            hostname: "127.0.0.1",
            port: serverPort,
          }),
        inbox.next,
        {
          transport: "UDP",
          sentBy: `127.0.0.1:${port}`,
          contact: `sip:${USER}@127.0.0.1:${port}`,
          agent,
        },
      ),
    close: () => socket.close(),
  };
}

Deno.test("WebSocket client registers (PUT) then drops its connection (DELETE)", async () => {
  await withRig(async ({ receiver, wsPort, server, callbacks }) => {
    const ws = new WebSocket(`ws://127.0.0.1:${wsPort}`, "sip");
    let openTimer: ReturnType<typeof setTimeout> | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        openTimer = setTimeout(() => reject(new Error("WebSocket did not open within 3 s")), 3000);
        ws.onopen = () => resolve();
        ws.onerror = () => reject(new Error("WebSocket did not open"));
      });
    } catch (error) {
      ws.close();
      throw error;
    } finally {
      clearTimeout(openTimer);
    }
    assert.equal(ws.protocol, "sip");
    const next = wsInbox(ws);
    const status = await digestRegister((t) => ws.send(t), next, {
      transport: "WS",
      sentBy: "df7jal23ls0d.invalid",
      contact: "sip:k2j3h4@df7jal23ls0d.invalid;transport=ws",
      agent: "JsSIP 3.13.8",
    });
    assert.equal(status, 200);
    const [put] = await receiver.waitFor(1);
    assert.equal(put.method, "PUT");
    const body = JSON.parse(put.body);
    assert.equal(body.host, "127.0.0.1");
    assert.equal(body.agent, "JsSIP 3.13.8");
    const connection = server.transport.connections().find((c) => c.flow.transport === "ws")!;
    assert.equal(body.port, connection.flow.remote.port);
    assert.deepEqual(server.location.aorsOnFlow(connection.flow.id), [`${USER}@${DOMAIN}`]);
    // The operator view lists the connection with its bound AOR.
    const view = await createApiApp(server).request("/ws", {
      headers: { authorization: "Bearer k" },
    });
    const listed = (await view.json()).connections[0];
    assert.equal(listed.id, connection.flow.id);
    assert.equal(listed.transport, "ws");
    assert.deepEqual(listed.remote, { host: "127.0.0.1", port: body.port });
    assert.deepEqual(listed.aors, [`${USER}@${DOMAIN}`]);
    assert.ok(listed.messages.in >= 2 && listed.messages.out >= 2);

    const closed = new Promise((r) => ws.onclose = r);
    ws.close();
    await closed;
    // The DELETE of the registration, and the close itself (POST /ws/closed, any order).
    const got = await receiver.waitFor(3);
    assertDelete(got.find((r) => r.method === "DELETE")!);
    const wsClosed = got.find((r) => r.method === "POST")!;
    assert.equal(wsClosed.path, "/ws/closed");
    assert.deepEqual(JSON.parse(wsClosed.body).aors, [`${USER}@${DOMAIN}`]);
    await callbacks.idle();
    assert.equal(receiver.received.length, 3);
  });
});

Deno.test("a contact that never answers OPTIONS is removed after maxMisses → DELETE", async () => {
  await withRig(
    async ({ receiver, udpPort, server }) => {
      const options: SipMessage[] = [];
      const phone = udpPhone(udpPort, (m) => options.push(m)); // never answered
      const local = phone.port;
      try {
        const status = await phone.register("mute");
        assert.equal(status, 200);
        await receiver.waitFor(1);
        // outstandingping climbs while OPTIONS go unanswered, then the binding goes.
        let sawMiss = false;
        const deadline = Date.now() + 10_000;
        while (server.location.size > 0 && Date.now() < deadline) {
          const b = server.location.all()[0];
          if (b && b.outstandingPings > 0) sawMiss = true;
          await new Promise((r) => setTimeout(r, 20));
        }
        assert.equal(server.location.size, 0, "binding removed after missed pings");
        assert.ok(sawMiss, "outstandingPings counted the misses");
        assert.ok(options.length >= 2, `OPTIONS sent: ${options.length}`);
        assert.equal(options[0].isRequest && options[0].uri, `sip:${USER}@127.0.0.1:${local}`);
        const got = await receiver.waitFor(2);
        assertDelete(got[1]);
        assert.ok(server.counters.total("ping_misses_total") >= 2);
      } finally {
        phone.close();
      }
    },
    (c) => {
      c.ping.interval = 0.2;
      c.ping.maxMisses = 2;
      c.sip.t1 = 20; // Timer F = 64*T1 = 1.28 s
    },
  );
});

Deno.test("a contact that answers OPTIONS stays, with outstandingping 0", async () => {
  await withRig(
    async ({ udpPort, server }) => {
      let answered = 0;
      const phone = udpPhone(udpPort, (m, reply) => {
        answered++;
        return reply(createResponse(m, 200).toBytes());
      });
      try {
        const status = await phone.register("alive");
        assert.equal(status, 200);
        await new Promise((r) => setTimeout(r, 2000));
        assert.ok(answered >= 3, `answered ${answered} pings`);
        assert.equal(server.location.size, 1);
        assert.equal(server.location.all()[0].outstandingPings, 0);
      } finally {
        phone.close();
      }
    },
    (c) => {
      c.ping.interval = 0.2;
      c.ping.maxMisses = 2;
      c.sip.t1 = 20;
    },
  );
});

Deno.test("a failing control server is retried with backoff, then delivered; counted", async () => {
  await withRig(
    async ({ receiver, server, udpPort, callbacks }) => {
      await sippRegister(udpPort, registerXml(600, false));
      const got = await receiver.waitFor(3);
      assert.ok(got.every((r) => r.method === "PUT"));
      // Exponential backoff: 50 ms, then 100 ms.
      assert.ok(got[1].at - got[0].at >= 45, `first retry after ${got[1].at - got[0].at} ms`);
      assert.ok(got[2].at - got[1].at >= 95, `second retry after ${got[2].at - got[1].at} ms`);
      await callbacks.idle();
      assert.equal(server.counters.total("callbacks_retries_total", { method: "PUT" }), 2);
      assert.equal(
        server.counters.total("callbacks_total", { method: "PUT", result: "delivered" }),
        1,
      );
    },
    () => {},
    2,
  );
});

Deno.test("an unreachable control server: attempts bounded, failure counted, SIP unaffected", async () => {
  const deadPort = freePort("tcp");
  await withRig(
    async ({ server, udpPort, callbacks }) => {
      await server.store.putDomain({ domain: DOMAIN, control: `http://127.0.0.1:${deadPort}` });
      await sippRegister(udpPort, registerXml(600, false));
      // A worker thread may have handled the REGISTER: its binding reaches main's copy (whose
      // events start the callbacks) within LAZY_MS, at once once synced.
      await server.sync();
      await callbacks.idle();
      assert.equal(
        server.counters.total("callbacks_total", { method: "PUT", result: "failed" }),
        1,
      );
      assert.equal(server.counters.total("callbacks_retries_total", { method: "PUT" }), 2);
      assert.equal(server.location.size, 1);
    },
    (c) => c.callbacks = { ...c.callbacks, retries: 3, backoffMs: 20, timeoutMs: 500 },
  );
});
