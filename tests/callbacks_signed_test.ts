/**
 * @module Signed control-server callbacks end to end: the control server is a real HTTP
 * receiver that verifies `X-Sipws-Signature` with the README's own JavaScript snippet
 * (extracted from README.md and imported), so the README stays true; the Python snippet
 * checks the same recorded requests. A per-domain secret wins over the global one, a
 * tampered body or a stale timestamp is rejected, and a callback that fails its last retry is
 * listed at `GET /callbacks/failed` (a bounded list: the newest kept) and delivered by the retry
 * endpoint.
 */
import assert from "node:assert/strict";
import { until } from "./support/poll.ts";
import { callbacksOf } from "../src/api/callbacks.ts";
import { register, TestSipClient } from "./support/sip_client.ts";
import { startTestServer } from "./support/test_server.ts";

type Verify = (
  secret: string,
  method: string,
  path: string,
  body: string,
  timestamp: string | null,
  signature: string | null,
) => boolean;

const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));

function readmeBlock(lang: string, marker: string): string {
  const blocks = [...readme.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))];
  const block = blocks.find((b) => b[1].includes(marker));
  assert.ok(block, `README has a ${lang} block with ${marker}`);
  return block[1];
}

async function readmeVerifier(): Promise<Verify> {
  const file = await Deno.makeTempFile({ suffix: ".mjs" });
  await Deno.writeTextFile(file, readmeBlock("js", "verifySipws"));
  const mod = await import(`file://${file}`);
  await Deno.remove(file);
  return mod.verifySipws as Verify;
}

/** The README's Python check run on one request; true when it accepts. */
async function pythonAccepts(secret: string, r: Seen, body = r.body): Promise<boolean> {
  const program = readmeBlock("python", "verify_sipws") + `
import json, sys
a = json.load(sys.stdin)
print("ok" if verify_sipws(a["secret"], a["method"], a["path"], a["body"].encode(), a["ts"], a["sig"]) else "no")
`;
  const child = new Deno.Command("python3", {
    args: ["-c", program],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(
    new TextEncoder().encode(
      JSON.stringify({ secret, method: r.method, path: r.path, body, ts: r.ts, sig: r.sig }),
    ),
  );
  await writer.close();
  const out = await child.output();
  return new TextDecoder().decode(out.stdout).trim() === "ok";
}

interface Seen {
  method: string;
  path: string;
  body: string;
  ts: string | null;
  sig: string | null;
  accepted: boolean;
}

/** A control server that accepts only requests signed with the secret of the path's domain. */
function receiver(secrets: Record<string, string>, verify: Verify, failing = { on: false }) {
  const seen: Seen[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    const body = await req.text();
    const domain = decodeURIComponent(path.split("/")[2] ?? "");
    const ts = req.headers.get("x-sipws-timestamp");
    const sig = req.headers.get("x-sipws-signature");
    const accepted = verify(secrets[domain] ?? "", req.method, path, body, ts, sig);
    seen.push({ method: req.method, path, body, ts, sig, accepted });
    if (!accepted) return new Response("bad signature", { status: 401 });
    if (failing.on) return new Response("down", { status: 503 });
    return new Response(null, { status: 204 });
  });
  return {
    seen,
    url: `http://127.0.0.1:${server.addr.port}`,
    async waitFor(n: number) {
      const deadline = Date.now() + 8000;
      while (seen.length < n) {
        if (Date.now() > deadline) throw new Error(`got ${seen.length} of ${n} callbacks`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return seen;
    },
    close: () => server.shutdown(),
  };
}

async function registerUdp(port: number, user: string, domain: string) {
  const client = await TestSipClient.connect("udp", port);
  const response = await register(client, { user, domain, password: "pw", expires: 600 });
  assert.equal(response.status, 200);
  return client;
}

Deno.test("callbacks are signed; the README verifiers accept them and reject tampering", async () => {
  const verify = await readmeVerifier();
  const rx = receiver({ "a.test": "domain-secret", "b.test": "global-secret" }, verify);
  await using ts = await startTestServer({
    transports: ["udp"],
    configure: (c) => c.callbacks = { ...c.callbacks, secret: "global-secret", retries: 1 },
  });
  const store = ts.server.store;
  // Domain a.test has its own secret (wins); b.test falls back to the global one.
  await store.putDomain({ domain: "a.test", control: rx.url, secret: "domain-secret" }, [
    { domain: "a.test", user: "alice", password: "pw" },
  ]);
  await store.putDomain({ domain: "b.test", control: rx.url }, [
    { domain: "b.test", user: "bob", password: "pw" },
  ]);
  const alice = await registerUdp(ts.port("udp"), "alice", "a.test");
  const bob = await registerUdp(ts.port("udp"), "bob", "b.test");
  try {
    const seen = await rx.waitFor(2);
    for (const r of seen) {
      assert.equal(r.method, "PUT");
      assert.ok(r.accepted, `receiver accepted ${r.path}`);
      assert.match(r.sig!, /^[0-9a-f]{64}$/);
      assert.ok(Math.abs(Number(r.ts) - Date.now() / 1000) < 10);
    }
    const a = seen.find((r) => r.path === "/reg/a.test/alice")!;
    const b = seen.find((r) => r.path === "/reg/b.test/bob")!;
    // The domain secret won: the global one does not verify alice's callback.
    assert.equal(verify("global-secret", a.method, a.path, a.body, a.ts, a.sig), false);
    assert.equal(verify("domain-secret", b.method, b.path, b.body, b.ts, b.sig), false);

    // Tampered body, path, method, replayed timestamp: all refused.
    const tampered = a.body.replace(/"port":\d+/, '"port":1');
    assert.notEqual(tampered, a.body);
    assert.equal(verify("domain-secret", a.method, a.path, tampered, a.ts, a.sig), false);
    assert.equal(verify("domain-secret", a.method, "/reg/a.test/eve", a.body, a.ts, a.sig), false);
    assert.equal(verify("domain-secret", "DELETE", a.path, a.body, a.ts, a.sig), false);
    assert.equal(verify("domain-secret", a.method, a.path, a.body, "1000", a.sig), false);
    // Sent over HTTP, the tampered request is refused by the running receiver too.
    const forged = await fetch(rx.url + a.path, {
      method: "PUT",
      body: tampered,
      headers: { "x-sipws-timestamp": a.ts!, "x-sipws-signature": a.sig! },
    });
    await forged.body?.cancel();
    assert.equal(forged.status, 401);
    assert.equal(rx.seen.at(-1)!.accepted, false);

    // The README's Python verifier agrees.
    assert.equal(await pythonAccepts("domain-secret", a), true);
    assert.equal(await pythonAccepts("domain-secret", a, tampered), false);
    assert.equal(await pythonAccepts("global-secret", b), true);

    // DELETE (empty body) is signed the same way.
    for (const binding of ts.server.location.lookup("alice@a.test")) {
      ts.server.location.remove(binding, "admin");
    }
    const del = (await rx.waitFor(4))[3];
    assert.deepEqual([del.method, del.path, del.body, del.accepted], [
      "DELETE",
      "/reg/a.test/alice",
      "",
      true,
    ]);
  } finally {
    alice.close();
    bob.close();
    await rx.close();
  }
});

Deno.test("a callback failing its last retry is kept, listed and delivered on retry", async () => {
  const verify = await readmeVerifier();
  const failing = { on: true };
  const rx = receiver({ "c.test": "s3cret" }, verify, failing);
  await using ts = await startTestServer({
    transports: ["udp"],
    apiKey: "k",
    configure: (c) => {
      c.callbacks = { ...c.callbacks, retries: 2, backoffMs: 10, failedKept: 1 };
    },
  });
  const httpPort = ts.config.httpPort;
  const api = (method: string, path: string) =>
    fetch(`http://127.0.0.1:${httpPort}${path}`, {
      method,
      headers: { authorization: "Bearer k" },
    }).then(async (r) => ({ status: r.status, json: await r.json() }));
  const put = await fetch(`http://127.0.0.1:${httpPort}/dir/c.test`, {
    method: "PUT",
    headers: { authorization: "Bearer k" },
    body: JSON.stringify({
      control: rx.url,
      secret: "s3cret",
      users: [{ username: "carol", secret: "pw" }],
    }),
  });
  assert.equal(put.status, 201);
  const putView = await put.json();
  assert.equal(putView.signed, true);
  assert.equal(JSON.stringify(putView).includes("s3cret"), false, "secret never shown");
  const carol = await registerUdp(ts.port("udp"), "carol", "c.test");
  try {
    await rx.waitFor(2);
    await callbacksOf(ts.server)!.idle();
    assert.ok(rx.seen.every((r) => r.accepted), "signed with the domain secret set over the API");
    const failed = await api("GET", "/callbacks/failed");
    assert.equal(failed.status, 200);
    assert.equal(failed.json.failed.length, 1);
    const entry = failed.json.failed[0];
    assert.equal(entry.method, "PUT");
    assert.equal(entry.domain, "c.test");
    assert.equal(entry.user, "carol");
    assert.equal(entry.attempts, 2);
    assert.match(entry.error, /503/);
    assert.deepEqual(JSON.parse(entry.body).port, carol.localPort);

    assert.equal((await api("POST", "/callbacks/failed/999/retry")).status, 404);
    failing.on = false;
    const retried = await api("POST", `/callbacks/failed/${entry.id}/retry`);
    assert.deepEqual(retried.json, { retried: [entry.id] });
    await rx.waitFor(3);
    await callbacksOf(ts.server)!.idle();
    const last = rx.seen[2];
    assert.ok(last.accepted);
    assert.equal(last.body, entry.body);
    assert.deepEqual((await api("GET", "/callbacks/failed")).json, { failed: [] });

    // The SIPWS protocol sets a domain secret too (control kept).
    const sipws = await fetch(`http://127.0.0.1:${httpPort}/`, {
      method: "POST",
      body: JSON.stringify({
        q: "put",
        key: "k",
        data: [],
        domains: [{ domain: "c.test", secret: "rotated" }],
      }),
    });
    assert.equal((await sipws.json()).errorcode, "0");
    assert.deepEqual(ts.server.store.getDomain("c.test"), {
      domain: "c.test",
      control: rx.url,
      secret: "rotated",
    });

    // The list is bounded (`failed_kept = 1`): a newer failure pushes the older one out.
    failing.on = true;
    const carolAgain = { user: "carol", domain: "c.test", password: "pw" };
    // A worker thread may handle the REGISTERs: main's events then follow within LAZY_MS, and
    // changes that reach main in one run are announced once (the final state), so each
    // callback is awaited before the next change.
    const deleteAt = () => rx.seen.findIndex((r) => r.method === "DELETE");
    assert.equal((await register(carol, { ...carolAgain, expires: 0 })).status, 200);
    await until("the unregistration's callback", () => deleteAt() >= 0 || undefined);
    assert.equal((await register(carol, { ...carolAgain, expires: 600 })).status, 200);
    await until(
      "the new registration's callback",
      () => rx.seen.slice(deleteAt()).some((r) => r.method === "PUT") || undefined,
    );
    await callbacksOf(ts.server)!.idle();
    const kept = (await api("GET", "/callbacks/failed")).json.failed;
    assert.equal(kept.length, 1);
    assert.equal(kept[0].method, "PUT", "the newest failure (the new registration) is kept");
  } finally {
    carol.close();
    await rx.close();
  }
});
