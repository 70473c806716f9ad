/**
 * @module Integration test of SIGHUP reload on the real binary (`deno run -A main.ts` as a
 * child process): new certificate and key files and an account added by another process
 * are picked up, while a WS client's connection and registration, and TLS and WSS
 * connections opened before the reload, survive. New handshakes on the TLS and WSS ports
 * are checked with `openssl s_client` (peer certificate fingerprint) and by trusting only
 * the new or only the old certificate. Every wait is bounded; the child is always stopped.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { SipResponse } from "../src/sip/message.ts";
import { certFingerprint, makeFreshSelfSignedCert, makeSelfSignedCert } from "./support/certs.ts";
import { freePorts, procNetSockets, waitForListening } from "./support/ports.ts";
import { runCommand, spawnChild } from "./support/process.ts";
import { answerChallenge, register, TestSipClient } from "./support/sip_client.ts";
import { startTestServer } from "./support/test_server.ts";
import {
  openTls,
  openWss,
  options,
  optionsStatus,
  presentedFingerprint,
  replaceFile,
  type SipLink,
} from "./support/tls_links.ts";
import { until } from "./support/poll.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const DOMAIN = "example.test";
const ALICE = { user: "alice", domain: DOMAIN, password: "alice-pw" };
const CAROL = { user: "carol", domain: DOMAIN, password: "carol-pw" };
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * RFC 3261 §10.2.3 query: a REGISTER without Contact changes nothing and lists the
 * current bindings of the AOR. Authenticates like `register()`.
 */
async function queryBindings(client: TestSipClient): Promise<SipResponse> {
  const callId = `query-${crypto.randomUUID()}`;
  const request = (cseq: number, auth?: string) =>
    [
      `REGISTER sip:${DOMAIN} SIP/2.0`,
      `Via: ${client.via};branch=z9hG4bK${crypto.randomUUID().slice(0, 12)};rport`,
      "Max-Forwards: 70",
      `From: <sip:alice@${DOMAIN}>;tag=${crypto.randomUUID().slice(0, 8)}`,
      `To: <sip:alice@${DOMAIN}>`,
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} REGISTER`,
      ...(auth ? [`Authorization: ${auth}`] : []),
      "Content-Length: 0",
      "",
      "",
    ].join("\r\n");
  await client.send(request(1));
  const challenge = await client.response(callId, 1);
  if (challenge.status !== 401) return challenge;
  const auth = answerChallenge(challenge, {
    ...ALICE,
    method: "REGISTER",
    uri: `sip:${DOMAIN}`,
  });
  await client.send(request(2, auth));
  return await client.response(callId, 2);
}

function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

Deno.test({
  name: "SIGHUP reloads certificates and accounts; WS registration and TLS/WSS connections stay",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "sipws-reload-" });
    const oldCert = await makeSelfSignedCert(join(dir, "a"));
    const newCert = await makeFreshSelfSignedCert(join(dir, "b"));
    const oldFp = await certFingerprint(oldCert.cert);
    const newFp = await certFingerprint(newCert.cert);
    assert.notEqual(oldFp, newFp, "the two certificates must differ");
    const certFile = join(dir, "cert.pem");
    const keyFile = join(dir, "key.pem");
    await replaceFile(oldCert.certFile, certFile);
    await replaceFile(oldCert.keyFile, keyFile);
    const db = join(dir, "accounts.db");
    const accounts = async (user: string, password: string) => {
      const r = await runCommand(Deno.execPath(), {
        args: [
          "run",
          "-A",
          MAIN,
          "accounts",
          "add",
          user,
          "--domain",
          DOMAIN,
          "--password",
          password,
          "--store",
          db,
          "--skipconfig",
        ],
        cwd: dir,
        timeoutMs: 60_000,
      });
      assert.equal(r.code, 0, `accounts add ${user}: ${r.stdout} ${r.stderr}`);
    };
    await accounts(ALICE.user, ALICE.password);

    const [udpPort, wsPort, wssPort, tlsPort] = freePorts(4);
    const child = spawnChild(Deno.execPath(), {
      args: [
        "run",
        "-A",
        MAIN,
        "-f",
        "-vvv",
        "-i",
        "127.0.0.1",
        "-u",
        String(udpPort),
        "-p",
        String(wsPort),
        "-s",
        String(wssPort),
        "--tls-port",
        String(tlsPort),
        "-c",
        certFile,
        "-k",
        keyFile,
        "--skipconfig",
        "--store",
        db,
      ],
      cwd: dir,
    });
    const links: (SipLink | TestSipClient)[] = [];
    try {
      await child.waitForLine(/started:/, 60_000, "stderr");
      await waitForListening(wssPort, "tcp");
      await waitForListening(tlsPort, "tcp");

      // Before the reload: the old certificate on both TLS ports, alice registered over WS.
      assert.equal(await presentedFingerprint(tlsPort), oldFp);
      assert.equal(await presentedFingerprint(wssPort), oldFp);
      const ws = await TestSipClient.connect("ws", wsPort);
      links.push(ws);
      let wsClosed = false;
      ws.closed.then(() => wsClosed = true);
      const registered = await register(ws, { ...ALICE, expires: 600 });
      assert.equal(registered.status, 200, `${registered.status} ${registered.reason}`);
      const tlsBefore = await openTls(tlsPort, oldCert.cert);
      links.push(tlsBefore);
      const wssBefore = await openWss(wssPort, oldCert.cert);
      links.push(wssBefore);
      assert.equal(await optionsStatus(tlsBefore), 200);
      assert.equal(await optionsStatus(wssBefore), 200);
      const udp = await TestSipClient.connect("udp", udpPort);
      links.push(udp);
      const carolBefore = await register(udp, { ...CAROL, expires: 60 });
      assert.equal(carolBefore.status, 403, "carol does not exist yet");

      // The operator swaps the files and adds an account from another process.
      await replaceFile(newCert.certFile, certFile);
      await replaceFile(newCert.keyFile, keyFile);
      await accounts(CAROL.user, CAROL.password);
      const carolStale = await register(udp, { ...CAROL, expires: 60 });
      assert.equal(carolStale.status, 403, "the running server sees carol only after SIGHUP");

      child.kill("SIGHUP");
      await child.waitForLine(/reloaded from/, 20_000, "stderr");

      // New handshakes present the new certificate...
      assert.equal(await presentedFingerprint(tlsPort), newFp, "TLS port after reload");
      assert.equal(await presentedFingerprint(wssPort), newFp, "WSS port after reload");
      const tlsAfter = await openTls(tlsPort, newCert.cert);
      links.push(tlsAfter);
      assert.equal(await optionsStatus(tlsAfter), 200);
      const wssAfter = await openWss(wssPort, newCert.cert);
      links.push(wssAfter);
      assert.equal(await optionsStatus(wssAfter), 200);
      await assert.rejects(openTls(tlsPort, oldCert.cert), "old certificate is gone (TLS)");
      await assert.rejects(openWss(wssPort, oldCert.cert), "old certificate is gone (WSS)");

      // ...while connections opened before the reload keep working.
      assert.equal(await optionsStatus(tlsBefore), 200, "TLS connection from before");
      assert.equal(await optionsStatus(wssBefore), 200, "WSS connection from before");
      assert.equal(wsClosed, false, "the WS client is still connected");
      assert.equal(await optionsStatus(ws), 200);
      const query = await queryBindings(ws);
      assert.equal(query.status, 200, `${query.status} ${query.reason}`);
      const bindings = query.getAll("contact");
      assert.equal(bindings.length, 1, `alice's binding survived the reload: ${bindings}`);
      assert.ok(bindings[0].includes(ws.contactUri.split(";")[0]), bindings[0]);
      const refreshed = await register(ws, { ...ALICE, expires: 600 });
      assert.equal(refreshed.status, 200);
      assert.equal(refreshed.getAll("contact").length, 1, "a refresh, not a second binding");

      // The account added by another process is usable.
      const carol = await register(udp, { ...CAROL, expires: 60 });
      assert.equal(carol.status, 200, `${carol.status} ${carol.reason}`);

      // A broken certificate is refused on reload: the listeners keep the current one.
      await Deno.writeTextFile(certFile, "not a certificate\n");
      const failures = count(child.stderr, "reload failed");
      child.kill("SIGHUP");
      await until(
        "the refused reload",
        () => count(child.stderr, "reload failed") > failures || undefined,
        20_000,
      );
      assert.equal(await presentedFingerprint(tlsPort), newFp, "TLS keeps the good certificate");
      assert.equal(await presentedFingerprint(wssPort), newFp, "WSS keeps the good certificate");
      assert.equal(await optionsStatus(wssBefore), 200);
      assert.equal(wsClosed, false);

      child.kill("SIGTERM");
      const { status, timedOut } = await child.wait(20_000);
      assert.equal(timedOut, false);
      assert.equal(status.code, 0, child.stderr);
    } finally {
      for (const link of links) link.close();
      await child.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

/** Client-side local ports of established TCP connections to `port` (from /proc/net). */
function clientPortsTo(port: number): Set<number> {
  const established = procNetSockets("tcp").filter((s) =>
    s.state === "01" && s.remotePort === port
  );
  return new Set(established.map((s) => s.localPort));
}

Deno.test({
  name: "WSS flows carry the client's address, not the internal TLS relay's",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    await using ts = await startTestServer({ transports: ["wss"], accounts: [ALICE] });
    const cert = await Deno.readTextFile(ts.config.certificate);
    const wss = await openWss(ts.port("wss"), cert);
    try {
      assert.equal(await optionsStatus(wss), 200);
      const flows = ts.server.transport.connections().map((c) => c.flow);
      assert.equal(flows.length, 1);
      assert.equal(flows[0].transport, "wss");
      assert.equal(flows[0].local.port, ts.port("wss"));
      assert.equal(flows[0].remote.host, "127.0.0.1");
      assert.ok(
        clientPortsTo(ts.port("wss")).has(flows[0].remote.port),
        `flow remote port ${flows[0].remote.port} is a client port to the WSS port`,
      );
      // The 200 tells the client the same address (RFC 3581 rport).
      const callId = `opt-${crypto.randomUUID()}`;
      await wss.send(options(wss.via, callId));
      const r = await wss.response(callId);
      assert.match(r.get("via") ?? "", new RegExp(`rport=${flows[0].remote.port}\\b`));
    } finally {
      wss.close();
    }
  },
});

// A plaintext HTTP request to the WSS port is not a TLS handshake: it must not reach the
// WebSocket endpoint (and must not disturb the listener).
Deno.test("WSS port refuses plaintext and keeps accepting TLS", async () => {
  await using ts = await startTestServer({ transports: ["wss"], accounts: [ALICE] });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: ts.port("wss") });
  await conn.write(encoder.encode("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n"));
  const buf = new Uint8Array(1024);
  const n = await Promise.race([
    conn.read(buf).catch(() => null),
    new Promise<null>((r) => setTimeout(() => r(null), 3000)),
  ]);
  conn.close();
  assert.ok(n === null || !decoder.decode(buf.subarray(0, n)).includes("101"), "no upgrade");
  const cert = await Deno.readTextFile(ts.config.certificate);
  const wss = await openWss(ts.port("wss"), cert);
  try {
    assert.equal(await optionsStatus(wss), 200);
  } finally {
    wss.close();
  }
});
