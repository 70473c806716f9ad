/**
 * Three sipws nodes (real `main.ts` processes on 127.0.0.2, .3 and .4) sharing one real
 * `redis-server`: an account added through node 1's API registers through node 3 within
 * a second; a WebSocket client on node 1 calls a sipp UDP phone registered through node 2
 * and is called by a sipp caller on node 2 (relayed to node 1, which owns the connection);
 * MESSAGE both ways; kill -9 of node 1 removes its WebSocket binding from the other nodes
 * within 15 s with exactly one DELETE callback, while node 2's phone stays reachable
 * through node 3; Redis stopped for 20 s and started again: no node crashes, provisioning
 * answers 503 meanwhile, and a registration made during the outage reaches Redis after.
 */
import assert from "node:assert/strict";
import type { SipRequest, SipResponse } from "../src/sip/message.ts";
import { type ChildProcess, runCommand } from "./support/process.ts";
import { freePorts, waitHealthy } from "./support/ports.ts";
import { until as poll } from "./support/poll.ts";
import { TestRedis } from "./support/redis.ts";
import { register, TestSipClient } from "./support/sip_client.ts";
import {
  type Call,
  inviteWithAuth,
  isReq,
  isRes,
  receiveMessage,
  sendMessage,
  sipReply,
  sipRequest,
} from "./support/sip_call.ts";
import { callerArgs, describeSipp, runSipp, startAnsweringPhone } from "./support/sipp.ts";
import { MAIN, spawnSipws } from "./support/sipws_process.ts";

const DOMAIN = "example.test";
const KEY = "cluster-test-key";
const SCENARIOS = new URL("./support/scenarios/", import.meta.url).pathname;
const [ALICE, BOB, CAROL, DAVE] = ["alice", "bob", "carol", "dave"].map((user) => ({
  user,
  domain: DOMAIN,
  password: `${user}-pw`,
}));
const [UDP, WS, HTTP, BOB_PORT, CONTROL_PORT] = freePorts(5);

const host = (n: number) => `127.0.0.${n + 1}`;
const api = (n: number) => `http://${host(n)}:${HTTP}`;
const auth = { authorization: `Bearer ${KEY}` };

function startNode(n: number, dir: string, redisUrl: string): ChildProcess {
  return spawnSipws(host(n), [
    "-u",
    String(UDP),
    "-p",
    String(WS),
    "-r",
    String(HTTP),
    "--store",
    `${dir}/n${n}.db`,
    "--cluster-redis",
    redisUrl,
    "--node-id",
    `n${n}`,
    KEY,
  ], dir);
}

async function bindings(n: number): Promise<{ aor: string; transport: string; node: string }[]> {
  const res = await fetch(`${api(n)}/bindings`, { headers: auth });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return body.bindings;
}

/** Whether node `n`'s API has `user`'s account (true), or not yet (undefined). */
async function serves(n: number, user: string): Promise<true | undefined> {
  const res = await fetch(`${api(n)}/dir/${DOMAIN}/${user}`, { headers: auth });
  await res.body?.cancel();
  return res.status === 200 ? true : undefined;
}

/** Polls `probe` for `ms`; a probe that throws (a node down) counts as not yet. */
function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  return poll(what, () => probe().catch(() => undefined), ms);
}

/** sipp calls `callee` through node `n` (UDP) as bob (the scenario's From made bob's). */
async function sippCall(n: number, callee: string) {
  const xml = await Deno.readTextFile(`${SCENARIOS}uac_call.xml`);
  return runSipp({
    scenarioXml: xml.replaceAll('"alice" <sip:alice@', '"bob" <sip:bob@'),
    args: callerArgs({
      server: `${host(n)}:${UDP}`,
      transport: "u1",
      service: callee,
      account: BOB,
    }),
    calls: 1,
    timeoutMs: 12_000,
  });
}

Deno.test({
  name:
    "cluster: 3 nodes on one Redis: accounts, calls and MESSAGE across nodes, node death, Redis outage",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await using redis = await TestRedis.start();
    const dir = await Deno.makeTempDir({ prefix: "sipws-cluster-" });
    const removed: string[] = [];
    const control = Deno.serve(
      { hostname: "127.0.0.1", port: CONTROL_PORT, onListen: () => {} },
      (req) => {
        if (req.method === "DELETE") removed.push(new URL(req.url).pathname);
        return new Response(null, { status: 204 });
      },
    );
    const nodes = new Map<number, ChildProcess>();
    const clients: TestSipClient[] = [];
    try {
      for (const n of [1, 2, 3]) nodes.set(n, startNode(n, dir, redis.url));
      for (const n of [1, 2, 3]) await waitHealthy(api(n));

      // An account added through node 1 registers through node 3 within a second.
      const users = [ALICE, BOB, CAROL, DAVE].map((u) => ({
        username: u.user,
        secret: u.password,
      }));
      const put = await fetch(`${api(1)}/dir/${DOMAIN}`, {
        method: "PUT",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ control: `http://127.0.0.1:${CONTROL_PORT}`, users }),
      });
      assert.equal(put.status, 201, await put.text());
      const added = Date.now();
      await until("node 3 sees the accounts", 1000, async () => {
        const res = await fetch(`${api(3)}/dir/${DOMAIN}`, { headers: auth });
        const body = await res.json();
        return body.users?.length === 4 ? true : undefined;
      });
      assert.ok(Date.now() - added <= 1000);
      const carol = await TestSipClient.connect("udp", UDP, host(3));
      clients.push(carol);
      assert.equal((await register(carol, { ...CAROL, expires: 600 })).status, 200);

      // `sipws accounts --cluster-redis` changes what every node serves.
      const accountsCli = (...args: string[]) =>
        runCommand(Deno.execPath(), {
          args: ["run", "-A", MAIN, "accounts", ...args, "--domain", DOMAIN, "--skipconfig"]
            .concat(["--cluster-redis", redis.url]),
          timeoutMs: 30_000,
        });
      const cli = await accountsCli("add", "erin", "--password", "erin-pw");
      assert.equal(cli.code, 0, cli.stderr);
      const cliAdded = Date.now();
      await until("node 2 sees the account added by the CLI", 1000, () => serves(2, "erin"));
      assert.ok(Date.now() - cliAdded <= 1000);

      // Deleted by the CLI (no node's API involved): erin's phone, registered through node 2,
      // leaves every node once they read the change, with one DELETE callback.
      {
        const erin = await TestSipClient.connect("udp", UDP, host(2));
        clients.push(erin);
        const ERIN = { user: "erin", domain: DOMAIN, password: "erin-pw", expires: 600 };
        // The API answered from node 2's main thread; the REGISTER may be read by its worker
        // thread (UDP steered by source port), whose copy of the accounts reads the change
        // from Redis on its own: tried 4 times a second (under the ban's 10 failures) until
        // that thread has it too (one 403 seen with two busy loops beside the suite).
        await until("erin registers through node 2", 2000, async () => {
          if ((await register(erin, ERIN)).status === 200) return true;
          await new Promise((r) => setTimeout(r, 250));
          return undefined;
        });
        const hasErin = async (n: number) =>
          (await bindings(n)).some((b) => b.aor === `erin@${DOMAIN}`);
        await until("node 1 sees erin's binding", 1000, async () => await hasErin(1) || undefined);
        const callbacks = removed.length;
        const del = await accountsCli("del", "erin");
        assert.equal(del.code, 0, del.stderr);
        for (const n of [1, 2, 3]) {
          await until(
            `erin's binding gone from node ${n}`,
            2000,
            async () => await hasErin(n) ? undefined : true,
          );
        }
        await until(
          "erin's DELETE callback",
          2000,
          () => Promise.resolve(removed.length > callbacks || undefined),
        );
        assert.deepEqual(removed.slice(callbacks), [`/reg/${DOMAIN}/erin`]);
      }

      // The SIPWS protocol's put through node 2 is seen by node 3 as well.
      const sipwsPut = (n: number, user: string) =>
        fetch(`${api(n)}/`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            q: "put",
            domain: DOMAIN,
            key: KEY,
            data: [{ o: "+", u: user, k: `${user}-pw` }],
          }),
        });
      const put2 = await sipwsPut(2, "gina");
      assert.equal(put2.status, 200, await put2.text());
      const putAt = Date.now();
      await until("node 3 sees the account put through node 2", 1000, () => serves(3, "gina"));
      assert.ok(Date.now() - putAt <= 1000);

      // alice: WebSocket on node 1; bob (a sipp phone) and dave: UDP through node 2.
      const alice = await TestSipClient.connect("ws", WS, host(1));
      const viaNode2 = await TestSipClient.connect("udp", UDP, host(2));
      const dave = await TestSipClient.connect("udp", UDP, host(2));
      clients.push(alice, viaNode2, dave);
      assert.equal((await register(alice, { ...ALICE, expires: 600 })).status, 200);
      const bobContact = `sip:bob@127.0.0.1:${BOB_PORT}`;
      assert.equal(
        (await register(viaNode2, { ...BOB, expires: 600, contact: bobContact })).status,
        200,
      );
      assert.equal((await register(dave, { ...DAVE, expires: 600 })).status, 200);
      const seen = await until("node 3 lists every node's bindings", 1000, async () => {
        const list = await bindings(3);
        return list.length === 4 ? list : undefined;
      });
      assert.deepEqual(seen.map((b) => `${b.aor} ${b.transport} ${b.node}`).sort(), [
        `alice@${DOMAIN} ws n1`,
        `bob@${DOMAIN} udp n2`,
        `carol@${DOMAIN} udp n3`,
        `dave@${DOMAIN} udp n2`,
      ]);
      // /metrics adds the cluster gauges: Redis up, three live nodes, three bindings elsewhere.
      const metrics = await (await fetch(`${api(3)}/metrics`, { headers: auth })).text();
      for (
        const line of [
          "sipws_cluster_redis_up 1",
          'sipws_cluster_nodes{state="alive"} 3',
          "sipws_cluster_remote_registrations 3",
        ]
      ) assert.ok(metrics.split("\n").includes(line), `${line} in\n${metrics}`);

      // carol's phone registers again, now through node 2: one binding, owned by node 2.
      {
        const moved = await TestSipClient.connect("udp", UDP, host(2));
        clients.push(moved);
        const ok = await register(moved, { ...CAROL, expires: 600, contact: carol.contactUri });
        assert.equal(ok.status, 200);
        assert.equal(ok.getAll("contact").length, 1, `one contact: ${ok.getAll("contact")}`);
        await until("carol's binding moved to node 2 everywhere", 1000, async () => {
          const views = await Promise.all([1, 2, 3].map(bindings));
          const carols = views.map((v) => v.filter((b) => b.aor.startsWith("carol@")));
          return carols.every((c) => c.length === 1 && c[0].node === "n2") ? true : undefined;
        });
      }
      // The 200 lists every node's contacts of the AOR: dave (node 2) adds one via node 3.
      {
        const other = await TestSipClient.connect("udp", UDP, host(3));
        clients.push(other);
        const ok = await register(other, { ...DAVE, expires: 600 });
        assert.equal(ok.status, 200);
        assert.equal(
          ok.getAll("contact").length,
          2,
          `dave's two contacts: ${ok.getAll("contact")}`,
        );
        const gone = await register(other, { ...DAVE, expires: 0 });
        assert.equal(gone.status, 200);
      }

      // An operator on node 1 removes a binding node 2 owns: node 2 removes it, every node
      // sees it go. (dave registers a second contact through node 2 for this.)
      {
        const extra = await TestSipClient.connect("udp", UDP, host(2));
        clients.push(extra);
        assert.equal((await register(extra, { ...DAVE, expires: 600 })).status, 200);
        const contact = extra.contactUri;
        const row = await until(
          "node 1 lists dave's second contact",
          1000,
          async () =>
            (await (await fetch(`${api(1)}/bindings`, { headers: auth })).json()).bindings
              .find((b: { contact: string }) => b.contact === contact),
        );
        const del = await fetch(`${api(1)}/bindings/${row.id}`, {
          method: "DELETE",
          headers: auth,
        });
        assert.equal(del.status, 204);
        await until("the removed contact is gone everywhere", 1000, async () => {
          const views = await Promise.all([1, 2, 3].map(bindings));
          return views.every((v) => !v.some((b) => (b as { contact?: string }).contact === contact))
            ? true
            : undefined;
        });
      }

      // WebSocket caller on node 1 → sipp phone registered through node 2.
      {
        await using uas = await startAnsweringPhone(BOB_PORT, "udp", 15_000);
        const call: Call = { callId: crypto.randomUUID(), fromTag: "a1", cseq: 1 };
        const target = `sip:bob@${DOMAIN}`;
        await inviteWithAuth(alice, call, ALICE, target, ["Session-Expires: 1800;refresher=uac"]);
        const ok = await alice.wait(isRes(200, call.callId), 8000) as SipResponse;
        const routes = [...ok.getAll("record-route")].reverse().map((r) => `Route: ${r}`);
        const contact = /<([^>]+)>/.exec(ok.get("contact")!)![1];
        const inDialog = (method: string, cseq: number) =>
          alice.send(sipRequest(alice, {
            method,
            uri: contact,
            from: `<sip:alice@${DOMAIN}>;tag=${call.fromTag}`,
            to: ok.get("to")!,
            call: { ...call, cseq },
            extra: routes,
          }));
        // Node 3 took no part, yet its /dialog lists the call as nodes 1 and 2 see it.
        const rows = await until("node 3 lists the call of nodes 1 and 2", 3000, async () => {
          const res = await fetch(`${api(3)}/dialog`, { headers: auth });
          const list = (await res.json()).dialogs as { callId: string; node: string }[];
          const mine = list.filter((d) => d.callId === call.callId).map((d) => d.node).sort();
          return mine.length === 2 ? mine : undefined;
        });
        assert.deepEqual(rows, ["n1", "n2"]);
        await inDialog("ACK", call.cseq);
        await inDialog("BYE", call.cseq + 1);
        await alice.wait(isRes(200, call.callId, "BYE"), 5000);
        const result = await uas.result();
        assert.equal(result.stats?.successfulCalls, 1, describeSipp(result));
      }

      // sipp caller on node 2 → the WebSocket client whose connection is on node 1.
      {
        const answering = (async () => {
          const invite = await alice.wait(isReq("INVITE"), 10_000) as SipRequest;
          const rr = invite.getAll("record-route");
          assert.ok(rr.some((r) => r.includes(host(1))), `node 1 in the route: ${rr}`);
          assert.ok(rr.some((r) => r.includes(host(2))), `node 2 in the route: ${rr}`);
          const extra = [...rr.map((r) => `Record-Route: ${r}`), `Contact: <${alice.contactUri}>`];
          await alice.send(sipReply(invite, 180, "Ringing", { toTag: "w1", extra }));
          await alice.send(sipReply(invite, 200, "OK", {
            toTag: "w1",
            extra: [
              ...extra,
              "Session-Expires: 1800;refresher=uac",
              "Content-Type: application/sdp",
            ],
            body:
              "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n",
          }));
          await alice.wait(isReq("ACK", invite.callId), 5000);
          const bye = await alice.wait(isReq("BYE", invite.callId), 5000) as SipRequest;
          await alice.send(sipReply(bye, 200, "OK"));
        })();
        const uac = await sippCall(2, "alice");
        await answering;
        assert.equal(uac.code, 0, describeSipp(uac));
      }

      // MESSAGE both ways between node 1's WebSocket client and node 2's UDP client.
      {
        const got = receiveMessage(dave);
        const final = await sendMessage(alice, ALICE, `sip:dave@${DOMAIN}`, "hello dave");
        assert.equal(final.status, 200);
        assert.equal(await got, "hello dave");
        const back = receiveMessage(alice);
        const reply = await sendMessage(dave, DAVE, `sip:alice@${DOMAIN}`, "hello alice");
        assert.equal(reply.status, 200);
        assert.equal(await back, "hello alice");
      }

      // kill -9 node 1: its WebSocket binding leaves nodes 2 and 3 within 15 s, once.
      const before = removed.length;
      nodes.get(1)!.kill("SIGKILL");
      await nodes.get(1)!.status;
      nodes.delete(1);
      const killed = Date.now();
      for (const n of [2, 3]) {
        await until(`alice gone from node ${n}`, 15_000 - (Date.now() - killed), async () => {
          const list = await bindings(n);
          return list.some((b) => b.aor.startsWith("alice@")) ? undefined : true;
        });
      }
      await new Promise((r) => setTimeout(r, 2000));
      assert.deepEqual(removed.slice(before), [`/reg/${DOMAIN}/alice`], "one DELETE callback");
      const still = (await bindings(3)).map((b) => b.aor).sort();
      assert.deepEqual(still, [`bob@${DOMAIN}`, `carol@${DOMAIN}`, `dave@${DOMAIN}`]);

      // Node 2's UDP phone stays reachable through node 3.
      {
        await using uas = await startAnsweringPhone(BOB_PORT, "udp", 15_000);
        const uac = await sippCall(3, "bob");
        assert.equal(uac.code, 0, describeSipp(uac));
        assert.equal((await uas.result()).stats?.successfulCalls, 1);
      }

      // Redis down for 20 s: nodes keep serving, provisioning answers 503, and what was
      // registered meanwhile reaches Redis once it is back.
      await redis.stop();
      const down = Date.now();
      await until("node 3 reports Redis unreachable", 5000, async () => {
        const health = await (await fetch(`${api(3)}/healthz`)).json();
        return health.cluster?.redis === "unreachable" ? health : undefined;
      });
      const refused = await fetch(`${api(3)}/dir/${DOMAIN}/frank`, {
        method: "PUT",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ secret: "frank-pw" }),
      });
      assert.equal(refused.status, 503, await refused.text());
      const refusedPut = await sipwsPut(3, "hank");
      assert.equal(refusedPut.status, 503, await refusedPut.text());
      const meanwhile = await TestSipClient.connect("udp", UDP, host(3));
      clients.push(meanwhile);
      const lateContact = `sip:carol@127.0.0.1:${meanwhile.localPort}`;
      assert.equal(
        (await register(meanwhile, { ...CAROL, expires: 600, contact: lateContact })).status,
        200,
      );
      await new Promise((r) => setTimeout(r, Math.max(0, 20_000 - (Date.now() - down))));
      await redis.start();
      await until("the registration made meanwhile is in Redis", 10_000, async () => {
        const hash = await redis.cli("HGETALL", `sipws:reg:carol@${DOMAIN}`);
        return hash.includes(lateContact) ? true : undefined;
      });
      const back = Date.now();
      for (const [n, child] of nodes) {
        const health = await until(`node ${n} healthy again`, 10_000, async () => {
          const h = await (await fetch(`${api(n)}/healthz`)).json();
          return h.cluster?.redis === "reachable" ? h : undefined;
        });
        assert.equal(health.status, "ok");
        assert.equal(await Promise.race([child.status.then(() => "exited"), "running"]), "running");
      }
      // Every heartbeat lapsed during the outage: still, no living node is taken for dead.
      await new Promise((r) => setTimeout(r, Math.max(0, 13_000 - (Date.now() - back))));
      const after = (await bindings(3)).map((b) => `${b.aor} ${b.node}`).sort();
      assert.ok(
        after.includes(`bob@${DOMAIN} n2`) && after.includes(`dave@${DOMAIN} n2`),
        `${after}`,
      );
      assert.deepEqual(
        removed.slice(before),
        [`/reg/${DOMAIN}/alice`],
        "no DELETE after the outage",
      );
    } catch (error) {
      for (const [n, child] of nodes) console.error(`--- node ${n}:\n${child.stderr.slice(-4000)}`);
      throw error;
    } finally {
      // Processes first: a client that cannot close must not leave a node running.
      for (const child of nodes.values()) await child.stop();
      for (const c of clients) c.close();
      await control.shutdown();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
