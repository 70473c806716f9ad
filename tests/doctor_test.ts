/**
 * @module `sipws doctor` (the real CLI, `deno run main.ts doctor`) against an in-process
 * sipws with every transport: a good configuration passes every check (the self-signed
 * certificate only warns) and REGISTERs a test account; then each fault it names is made
 * and seen failing with its fix: nothing listening, an expired certificate, a certificate
 * for other names, a chain missing its intermediate, a key that does not match, a malformed
 * Origin entry (an empty list warns), refused WebSocket handshakes, OPTIONS answered 503,
 * a wrong password. Exit code 1 on failure, 0 otherwise; `--json` output is what is read.
 */
import assert from "node:assert/strict";
import type { Config } from "../src/config/config.ts";
import { makeCaSignedCert, makeExpiredCert } from "./support/certs.ts";
import { freePorts } from "./support/ports.ts";
import { runCommand } from "./support/process.ts";
import { startTestServer } from "./support/test_server.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const ALICE = { user: "alice", domain: "example.test", password: "doctor-pw" };
const ORIGIN = "https://app.example.test";

interface Check {
  check: string;
  status: "pass" | "warn" | "fail" | "skip";
  detail: string;
  fix?: string;
}

function toml(c: Config, over: Record<string, unknown> = {}): string {
  const v = { ...c, ...over } as Config & Record<string, unknown>;
  const lines = [`interface = "${v.interface}"`];
  for (
    const [key, name] of [
      ["udpPort", "udp_port"],
      ["tcpPort", "tcp_port"],
      [
        "tlsPort",
        "tls_port",
      ],
      ["wsPort", "ws_port"],
      ["wssPort", "wss_port"],
    ] as const
  ) {
    if (v[key] !== undefined) lines.push(`${name} = ${v[key]}`);
  }
  lines.push(`certificate = "${v.certificate}"`, `private_key = "${v.privateKey}"`);
  lines.push("[sip]", `domains = ${JSON.stringify(over.domains ?? [])}`);
  lines.push("[websocket]", `allowed_origins = ${JSON.stringify(over.origins ?? [ORIGIN])}`);
  return lines.join("\n") + "\n";
}

async function doctor(dir: string, text: string, extra: string[] = []) {
  const file = `${dir}/doctor-${crypto.randomUUID().slice(0, 6)}.toml`;
  await Deno.writeTextFile(file, text);
  const r = await runCommand(Deno.execPath(), {
    args: ["run", "-A", MAIN, "doctor", "--config", file, "--json", ...extra],
    timeoutMs: 60_000,
  });
  let parsed: { ok: boolean; checks: Check[] };
  try {
    parsed = JSON.parse(r.stdout);
  } catch {
    throw new Error(`doctor printed no JSON (code ${r.code}): ${r.stdout}\n${r.stderr}`);
  }
  const by = (name: string) => {
    const found = parsed.checks.find((c) => c.check === name);
    assert.ok(found, `no check ${name} in ${JSON.stringify(parsed.checks)}`);
    return found;
  };
  return { code: r.code, ...parsed, by, text: r.stdout };
}

Deno.test("sipws doctor: a good server passes; each named fault fails with a fix", async () => {
  await using ts = await startTestServer({
    accounts: [ALICE],
    configure: (c) => c.websocket.allowedOrigins = [ORIGIN],
  });
  const c = ts.config;
  const account = ["--user", `${ALICE.user}@${ALICE.domain}`, "--password", ALICE.password];

  const good = await doctor(ts.dir, toml(c), account);
  assert.equal(good.code, 0, good.text);
  assert.equal(good.ok, true);
  for (const name of ["options udp", "options tcp", "options tls", "options ws", "options wss"]) {
    assert.equal(good.by(name).status, "pass", name);
  }
  for (const name of ["ws handshake", "wss handshake", "register", "certificate key"]) {
    assert.equal(good.by(name).status, "pass", name);
  }
  assert.equal(good.by("certificate expiry").status, "warn", "the test certificate lives 2 days");
  assert.equal(good.by("certificate names").status, "pass");
  assert.equal(good.by("certificate chain").status, "warn", "self-signed warns");
  assert.equal(good.by("listener wss").status, "pass");
  assert.equal(
    ts.server.location.lookup(`${ALICE.user}@${ALICE.domain}`).length,
    0,
    "unregistered",
  );

  // Nothing listening on the configured ports.
  const [p1, p2] = freePorts(2);
  const down = await doctor(ts.dir, toml(c, { tcpPort: p1, wsPort: p2 }));
  assert.equal(down.code, 1);
  assert.equal(down.by("listener tcp").status, "fail");
  assert.match(down.by("listener tcp").fix!, /start sipws/);
  assert.equal(down.by("ws handshake").status, "fail");

  // Certificate faults.
  const expired = await makeExpiredCert(`${ts.dir}/expired`);
  const exp = await doctor(
    ts.dir,
    toml(c, { certificate: expired.certFile, privateKey: expired.keyFile }),
  );
  assert.equal(exp.by("certificate expiry").status, "fail");
  assert.match(exp.by("certificate expiry").fix!, /renew/);
  const names = await doctor(ts.dir, toml(c, { domains: ["sip.example.test"] }));
  assert.equal(names.by("certificate names").status, "fail");
  assert.match(names.by("certificate names").fix!, /sip\.example\.test/);
  const ca = await makeCaSignedCert(`${ts.dir}/ca`);
  const leafOnly = await doctor(
    ts.dir,
    toml(c, { certificate: ca.certFile, privateKey: ca.keyFile }),
  );
  assert.equal(leafOnly.by("certificate chain").status, "fail");
  assert.match(leafOnly.by("certificate chain").fix!, /fullchain/);
  const full = await doctor(ts.dir, toml(c, { certificate: ca.chainFile, privateKey: ca.keyFile }));
  assert.equal(full.by("certificate chain").status, "pass");
  // The running server's certificate with the test CA's server key.
  const mismatch = await doctor(ts.dir, toml(c, { privateKey: ca.keyFile }));
  assert.equal(mismatch.by("certificate key").status, "fail");

  // Origin policy: empty warns, malformed fails.
  assert.equal((await doctor(ts.dir, toml(c, { origins: [] }))).by("origin policy").status, "warn");
  const bad = await doctor(ts.dir, toml(c, { origins: ["app.example.test"] }));
  assert.equal(bad.by("origin policy").status, "fail");

  // The server refuses WebSocket handshakes (POST /ws/disable).
  ts.server.transport.setWebSocketsEnabled(false);
  await ts.server.settle(); // every worker refuses, whichever accepts the doctor's handshake
  const off = await doctor(ts.dir, toml(c));
  assert.equal(off.by("ws handshake").status, "fail");
  assert.equal(off.by("wss handshake").status, "fail");
  ts.server.transport.setWebSocketsEnabled(true);
  await ts.server.settle();

  // SIP stopped (SIPWS q=stop): OPTIONS answered 503.
  ts.server.transport.setAccepting(false);
  await ts.server.settle();
  const stopped = await doctor(ts.dir, toml(c));
  assert.equal(stopped.by("options udp").status, "fail");
  assert.match(stopped.by("options udp").fix!, /q: start/);
  ts.server.transport.setAccepting(true);
  await ts.server.settle();

  // A wrong password.
  const wrong = await doctor(ts.dir, toml(c), [
    "--user",
    `${ALICE.user}@${ALICE.domain}`,
    "--password",
    "nope",
  ]);
  assert.equal(wrong.code, 1);
  assert.equal(wrong.by("register").status, "fail");
  assert.match(wrong.by("register").fix!, /wrong password/);
});
