/**
 * Registrations survive a restart: a sipws process (real `main.ts`, sqlite store, or the
 * JSON `-b` database whose registrations go to its sibling file) holds a UDP phone, a TCP
 * phone (both sipp UASes at the addresses their Contacts name) and a WebSocket client; it
 * is stopped with SIGTERM, or with SIGKILL once the write-behind has put the registrations
 * on disk, and started again on the same store. Without any new REGISTER
 * a sipp UAC then calls both phones successfully, while the WebSocket binding, whose
 * connection died with the process, is gone.
 */
import assert from "node:assert/strict";
import { JsonFileStore } from "../src/store/json_file_store.ts";
import { SqliteStore } from "../src/store/sqlite_store.ts";
import { freePorts, waitHealthy } from "./support/ports.ts";
import { register, TestSipClient } from "./support/sip_client.ts";
import { callerArgs, describeSipp, runSipp, startAnsweringPhone } from "./support/sipp.ts";
import { spawnSipws } from "./support/sipws_process.ts";
import { until } from "./support/poll.ts";
import { openBindingStore } from "../src/store/open_store.ts";

const DOMAIN = "example.test";
const users = ["alice", "bob", "carol", "dave"].map((user) => ({
  user,
  domain: DOMAIN,
  password: `${user}-secret`,
}));
const [ALICE, BOB, CAROL, DAVE] = users;
const KEY = "restart-test-key";
const SCENARIOS = new URL("./support/scenarios/", import.meta.url).pathname;

interface Ports {
  udp: number;
  tcp: number;
  ws: number;
  http: number;
}

type StoreKind = "sqlite" | "json";

function startSipws(dir: string, p: Ports, kind: StoreKind) {
  return spawnSipws("127.0.0.1", [
    "-u",
    String(p.udp),
    "-t",
    String(p.tcp),
    "-p",
    String(p.ws),
    "-r",
    String(p.http),
    ...(kind === "sqlite" ? ["--store", `${dir}/sipws.db`] : ["-b", `${dir}/accounts.json`]),
    KEY,
  ], dir);
}

async function bindings(p: Ports): Promise<{ aor: string; transport: string }[]> {
  const res = await fetch(`http://127.0.0.1:${p.http}/bindings`, {
    headers: { authorization: `Bearer ${KEY}` },
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return body.bindings;
}

/** alice calls `callee` (a sipp UAS on `uasPort` over `transport`) through sipws. */
async function call(callee: string, transport: "udp" | "tcp", uasPort: number, p: Ports) {
  await using uas = await startAnsweringPhone(uasPort, transport, 15_000);
  const uac = await runSipp({
    scenarioFile: `${SCENARIOS}uac_call.xml`,
    args: callerArgs({
      server: `127.0.0.1:${p.udp}`,
      transport: "u1",
      service: callee,
      account: ALICE,
    }),
    calls: 1,
    timeoutMs: 12_000,
  });
  assert.equal(uac.code, 0, `call to ${callee} failed:\n${describeSipp(uac)}`);
  const uasResult = await uas.result();
  assert.equal(uasResult.stats?.successfulCalls, 1, `${callee}:\n${describeSipp(uasResult)}`);
}

const CASES = [["SIGTERM", "sqlite"], ["SIGKILL", "sqlite"], ["SIGKILL", "json"]] as const;

for (const [how, kind] of CASES) {
  Deno.test({
    name: `registrations survive a restart (${how}, ${kind} store): UDP and TCP phones called, ` +
      "WS gone",
    sanitizeResources: false,
    fn: async () => {
      const dir = await Deno.makeTempDir({ prefix: "sipws-restart-" });
      const [udp, tcp, ws, http, bobPort, carolPort] = freePorts(6);
      const p: Ports = { udp, tcp, ws, http };
      const store = kind === "sqlite"
        ? SqliteStore.open(`${dir}/sipws.db`, { storePlainPasswords: false })
        : await JsonFileStore.open(`${dir}/accounts.json`, { storePlainPasswords: false });
      for (const u of users) await store.putAccount(u);
      store.close();
      const clients: TestSipClient[] = [];
      let sipws = startSipws(dir, p, kind);
      try {
        await waitHealthy(`http://127.0.0.1:${http}`);
        const viaUdp = await TestSipClient.connect("udp", udp);
        const viaTcp = await TestSipClient.connect("tcp", tcp);
        const viaWs = await TestSipClient.connect("ws", ws);
        clients.push(viaUdp, viaTcp, viaWs);
        const expires = 600;
        const bob = `sip:bob@127.0.0.1:${bobPort}`;
        const carol = `sip:carol@127.0.0.1:${carolPort};transport=tcp`;
        assert.equal((await register(viaUdp, { ...BOB, expires, contact: bob })).status, 200);
        assert.equal((await register(viaTcp, { ...CAROL, expires, contact: carol })).status, 200);
        assert.equal((await register(viaWs, { ...DAVE, expires })).status, 200);
        const before = (await bindings(p)).map((b) => `${b.aor} ${b.transport}`).sort();
        assert.deepEqual(before, [
          `bob@${DOMAIN} udp`,
          `carol@${DOMAIN} tcp`,
          `dave@${DOMAIN} ws`,
        ]);

        if (how === "SIGKILL") {
          // Write-behind: a batch is written about 1 s after the change (later on a loaded
          // machine); kill -9 once it is on disk, as read by the store the restart loads.
          await until("the registrations written behind", async () => {
            const stored = openBindingStore(
              kind === "sqlite"
                ? { storePath: `${dir}/sipws.db`, storePlainPasswords: false }
                : { dbFile: `${dir}/accounts.json`, storePath: "", storePlainPasswords: false },
            );
            try {
              const aors = (await stored.load(Date.now())).map((b) => b.aor);
              return aors.includes(`bob@${DOMAIN}`) && aors.includes(`carol@${DOMAIN}`) ||
                undefined;
            } finally {
              stored.close();
            }
          });
        }
        sipws.kill(how);
        const status = await sipws.status;
        if (how === "SIGTERM") assert.equal(status.code, 0, sipws.stderr);
        else assert.equal(status.signal, "SIGKILL");
        for (const c of clients.splice(0)) c.close();
        if (kind === "json") {
          // The JSON database's registrations are its sibling file, not the accounts file.
          const saved = await Deno.readTextFile(`${dir}/accounts.bindings.json`);
          assert.match(saved, /bob@example\.test/);
        }

        sipws = startSipws(dir, p, kind);
        await waitHealthy(`http://127.0.0.1:${http}`);
        const after = (await bindings(p)).map((b) => `${b.aor} ${b.transport}`).sort();
        assert.deepEqual(after, [`bob@${DOMAIN} udp`, `carol@${DOMAIN} tcp`], sipws.stderr);
        await call("bob", "udp", bobPort, p);
        await call("carol", "tcp", carolPort, p);
      } finally {
        // Processes first: a client that cannot close must not leave a server running.
        await sipws.stop();
        for (const c of clients) c.close();
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    },
  });
}
