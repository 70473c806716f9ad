/**
 * @module Crash safety of provisioning over HTTP: a server subprocess takes a burst of
 * concurrent `PUT /dir/{domain}/{user}` and SIPWS `put` requests, is killed with SIGKILL
 * mid-burst, and is restarted on the same store. Every change the API acknowledged must be
 * there, and the store must load, both for the embedded sqlite store and for SIPWS's
 * `-b` JSON database file.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { openStore } from "../src/store/open_store.ts";
import { freePort, freePorts, waitForListening } from "./support/ports.ts";
import type { ChildProcess } from "./support/process.ts";
import { spawnSipws } from "./support/sipws_process.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const KEY = "crash-key";
const DOMAIN = "crash.test";

async function start(
  storeArgs: string[],
  udpPort: number,
  httpPort: number,
): Promise<ChildProcess> {
  const child = spawnSipws(
    "127.0.0.1",
    ["-u", String(udpPort), "-r", String(httpPort), ...storeArgs, KEY],
    ROOT,
  );
  try {
    await waitForListening(httpPort, "tcp", 20_000);
  } catch (e) {
    await child.stop();
    throw new Error(`${(e as Error).message}\n${child.stderr}`);
  }
  return child;
}

async function crashRun(storeArgs: string[], storeConfig: { dbFile?: string; storePath: string }) {
  const [udpPort] = freePorts(1);
  const httpPort = freePort("tcp");
  const base = `http://127.0.0.1:${httpPort}`;
  let server = await start(storeArgs, udpPort, httpPort);
  const acked = new Set<string>();
  const ackedDeletes = new Set<string>();
  try {
    const put = await fetch(`${base}/dir/${DOMAIN}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${KEY}` },
      body: JSON.stringify({
        control: "http://127.0.0.1:9",
        users: [{ username: "seed", secret: "s" }],
      }),
    });
    assert.equal(put.status, 201, await put.text());

    let next = 0;
    const TOTAL = 2000;
    let stop = false;
    const worker = async (w: number) => {
      while (!stop && next < TOTAL) {
        const i = next++;
        const user = `u${i}`;
        try {
          let res: Response;
          if (i % 3 === 0) {
            // SIPWS protocol put: one user in, the seed user of this worker out and back.
            res = await fetch(`${base}/`, {
              method: "POST",
              body: JSON.stringify({
                q: "put",
                domain: DOMAIN,
                key: KEY,
                data: [{ o: "+", u: user, k: `p${i}` }, { o: "-", u: `gone${w}` }],
              }),
            });
          } else {
            res = await fetch(`${base}/dir/${DOMAIN}/${user}`, {
              method: "PUT",
              headers: { authorization: `Bearer ${KEY}` },
              body: JSON.stringify({ secret: `p${i}`, cn: `User ${i}` }),
            });
          }
          const body = await res.text();
          if (res.status === 200 || res.status === 201) {
            acked.add(user);
            if (i % 3 === 0) ackedDeletes.add(`gone${w}`);
          } else throw new Error(`unexpected ${res.status}: ${body}`);
        } catch (e) {
          if (e instanceof Error && e.message.startsWith("unexpected")) throw e;
          return; // connection refused/reset: the server is gone
        }
      }
    };
    const workers = Array.from({ length: 8 }, (_, w) => worker(w));
    // Kill once a good part of the burst is acknowledged, while requests are in flight.
    const deadline = Date.now() + 20_000;
    while (acked.size < 150 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    server.kill("SIGKILL");
    await server.status;
    stop = true;
    await Promise.all(workers);
    await server.stop();
    assert.ok(acked.size >= 150, `only ${acked.size} changes were acknowledged before the kill`);
    assert.ok(acked.size < TOTAL, "the kill came mid-burst");

    // The store loads on its own...
    const store = await openStore({ ...storeConfig, storePlainPasswords: false });
    try {
      for (const user of acked) {
        assert.ok(store.getAccount(DOMAIN, user), `acknowledged ${user} lost`);
      }
      assert.ok(store.getAccount(DOMAIN, "seed"));
      assert.equal(store.getDomain(DOMAIN)?.control, "http://127.0.0.1:9");
    } finally {
      store.close();
    }
    // ...and the restarted server serves every acknowledged change.
    server = await start(storeArgs, udpPort, httpPort);
    const res = await fetch(`${base}/dir/${DOMAIN}`, {
      headers: { authorization: `Bearer ${KEY}` },
    });
    assert.equal(res.status, 200);
    const view = await res.json() as { users: { username: string; cn?: string }[] };
    const names = new Set(view.users.map((u) => u.username));
    for (const user of acked) assert.ok(names.has(user), `${user} missing after restart`);
    for (const gone of ackedDeletes) assert.ok(!names.has(gone));
  } finally {
    await server.stop();
  }
}

Deno.test("kill -9 mid-burst: every acknowledged change survives (sqlite store)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sipws-crash-sql-" });
  try {
    const path = `${dir}/accounts.db`;
    await crashRun(["--store", path], { storePath: path });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("kill -9 mid-burst: every acknowledged change survives (-b JSON database)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sipws-crash-json-" });
  try {
    const path = `${dir}/db.json`;
    await crashRun(["-b", path], { dbFile: path, storePath: `${dir}/unused.db` });
    JSON.parse(await Deno.readTextFile(path)); // the file itself is whole JSON
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
