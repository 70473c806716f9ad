/**
 * @module Self-tests of the integration-test harness in tests/support: free ports, the
 * self-signed certificate, child-process control, sipp against sipp and against a Deno
 * UDP stand-in, and headless Chromium in a loopback-only network namespace reaching host
 * servers through the unix-socket relay. These tests use tiny stand-ins, never sipws, so
 * a harness failure is never confused with a server failure.
 */

import assert from "node:assert/strict";
import { freePort, freePorts, waitForListening } from "./support/ports.ts";
import { makeSelfSignedCert } from "./support/certs.ts";
import { runCommand, spawnChild } from "./support/process.ts";
import { describeSipp, runSipp, startSipp } from "./support/sipp.ts";
import { type BrowserHandle, capturePageLog, launchBrowser, loadJsSip } from "./support/browser.ts";

/** True while `pid` is a live (not zombie) process; polls up to 10 s (a loaded box) for it to go. */
async function stillRunning(pid: number): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    let state: string;
    try {
      state = (await Deno.readTextFile(`/proc/${pid}/stat`)).replace(/^.*\) /s, "")[0];
    } catch {
      return false;
    }
    if (state === "Z") return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

/** Live processes whose environment contains `needle` (zombies have no environment). */
async function processesWithEnv(needle: string): Promise<number[]> {
  const found: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const env = await Deno.readTextFile(`/proc/${entry.name}/environ`);
      if (env.split("\0").includes(needle)) found.push(Number(entry.name));
    } catch {
      // Exited meanwhile or not readable.
    }
  }
  return found;
}

const SUPPORT = new URL("./support/", import.meta.url).pathname;

Deno.test("ports: freePort and freePorts give bindable, distinct loopback ports", () => {
  const tcp = freePort("tcp");
  const udp = freePort("udp");
  assert.ok(tcp > 0 && udp > 0);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: tcp });
  listener.close();
  const ports = freePorts(4);
  assert.equal(new Set(ports).size, 4);
  for (const port of ports) {
    const l = Deno.listen({ hostname: "127.0.0.1", port });
    const d = Deno.listenDatagram({ hostname: "127.0.0.1", port, transport: "udp" });
    l.close();
    d.close();
  }
});

Deno.test("ports: waitForListening sees a TCP listener and a UDP socket, times out otherwise", async () => {
  const [port] = freePorts(1);
  await assert.rejects(waitForListening(port, "tcp", 100), /nothing listens/);
  const l = Deno.listen({ hostname: "127.0.0.1", port });
  const d = Deno.listenDatagram({ hostname: "127.0.0.1", port, transport: "udp" });
  try {
    await waitForListening(port, "tcp", 1000);
    await waitForListening(port, "udp", 1000);
  } finally {
    l.close();
    d.close();
  }
});

Deno.test("certs: self-signed cert serves TLS to a client trusting it, for 127.0.0.1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "harness-cert-" });
  try {
    const pair = await makeSelfSignedCert(dir);
    assert.match(await Deno.readTextFile(pair.certFile), /BEGIN CERTIFICATE/);
    assert.match(await Deno.readTextFile(pair.keyFile), /PRIVATE KEY/);
    const again = await makeSelfSignedCert(`${dir}/second`);
    assert.equal(again.cert, pair.cert, "generated once per process");

    const listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, ...pair });
    const port = (listener.addr as Deno.NetAddr).port;
    const served = (async () => {
      const conn = await listener.accept();
      await conn.write(new TextEncoder().encode("hello"));
      conn.close();
    })();
    try {
      const conn = await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [pair.cert] });
      const buf = new Uint8Array(16);
      const n = await conn.read(buf);
      conn.close();
      assert.equal(new TextDecoder().decode(buf.subarray(0, n ?? 0)), "hello");
      await served;
    } finally {
      listener.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("process: waitForLine, timeout, exit detection and stop()", async () => {
  const child = spawnChild("sh", {
    args: ["-c", 'echo starting; sleep 30 & echo "ready, sleeper $!" >&2; wait'],
  });
  try {
    const m = await child.waitForLine(/ready, sleeper (\d+)/, 5000, "stderr");
    const sleeper = Number(m[1]);
    assert.ok(sleeper > 0);
    await assert.rejects(child.waitForLine(/never printed/, 100), /timeout after 100 ms/);
    const status = await child.stop(1000);
    assert.equal(status.success, false, "killed by SIGTERM");
    assert.match(child.stdout, /starting/);
    assert.equal(await stillRunning(sleeper), false, "grandchild killed with the group");
  } finally {
    await child.stop();
  }

  const quick = spawnChild("sh", { args: ["-c", "echo bye; exit 3"] });
  try {
    await assert.rejects(quick.waitForLine(/nope/, 5000), /exited \(code 3\)/);
  } finally {
    await quick.stop();
  }

  const slow = await runCommand("sleep", { args: ["30"], timeoutMs: 200 });
  assert.equal(slow.timedOut, true);
  const ok = await runCommand("cat", { stdin: "piped text", timeoutMs: 5000 });
  assert.equal(ok.code, 0);
  assert.equal(ok.stdout, "piped text");
});

Deno.test("sipp: built-in UAC places 5 calls to a built-in UAS over loopback UDP", async () => {
  const [uasPort, uacPort] = freePorts(2);
  const uas = await startSipp({
    args: ["-sn", "uas", "-p", String(uasPort)],
    calls: 5,
    timeoutMs: 20_000,
  });
  try {
    await waitForListening(uasPort, "udp", 5000);
    const uac = await runSipp({
      args: ["-sn", "uac", `127.0.0.1:${uasPort}`, "-p", String(uacPort), "-r", "20"],
      calls: 5,
      timeoutMs: 20_000,
    });
    assert.equal(uac.code, 0, describeSipp(uac));
    assert.deepEqual(
      { ok: uac.stats?.successfulCalls, failed: uac.stats?.failedCalls },
      { ok: 5, failed: 0 },
      describeSipp(uac),
    );
    const server = await uas.result();
    assert.equal(server.code, 0, describeSipp(server));
    assert.equal(server.stats?.incomingCalls, 5, describeSipp(server));
  } finally {
    await uas.stop();
  }
});

Deno.test("sipp: built-in UAC and UAS over loopback TCP (-t t1)", async () => {
  const [uasPort] = freePorts(1);
  const uas = await startSipp({
    args: ["-sn", "uas", "-t", "t1", "-p", String(uasPort)],
    calls: 2,
    timeoutMs: 20_000,
  });
  try {
    await waitForListening(uasPort, "tcp", 5000);
    const uac = await runSipp({
      args: ["-sn", "uac", "-t", "t1", `127.0.0.1:${uasPort}`, "-p", String(freePort("tcp"))],
      calls: 2,
      timeoutMs: 20_000,
    });
    assert.equal(uac.code, 0, describeSipp(uac));
    assert.equal(uac.stats?.successfulCalls, 2, describeSipp(uac));
  } finally {
    await uas.stop();
  }
});

/** A UDP stand-in that answers every request with 200, copying the §8.2.6.2 headers. */
function startOptionsResponder(): { port: number; close(): Promise<void>; seen: string[] } {
  const socket = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  const seen: string[] = [];
  const loop = (async () => {
    try {
      for await (const [data, addr] of socket) {
        const text = new TextDecoder().decode(data);
        seen.push(text.split("\r\n")[0]);
        const copied = text.split("\r\n").filter((l) => /^(Via|From|To|Call-ID|CSeq):/i.test(l));
        const response = ["SIP/2.0 200 OK", ...copied, "Content-Length: 0", "", ""].join("\r\n");
        await socket.send(new TextEncoder().encode(response), addr);
      }
    } catch {
      // socket closed
    }
  })();
  return {
    port: (socket.addr as Deno.NetAddr).port,
    seen,
    async close() {
      socket.close();
      await loop;
    },
  };
}

Deno.test("sipp: custom scenario file and inline XML against a Deno UDP stand-in", async () => {
  const responder = startOptionsResponder();
  try {
    const fromFile = await runSipp({
      scenarioFile: `${SUPPORT}options_uac.xml`,
      args: [`127.0.0.1:${responder.port}`, "-p", String(freePort("udp"))],
      calls: 3,
      timeoutMs: 15_000,
    });
    assert.equal(fromFile.code, 0, describeSipp(fromFile));
    assert.equal(fromFile.stats?.successfulCalls, 3, describeSipp(fromFile));
    assert.equal(responder.seen.length, 3);
    assert.match(responder.seen[0], /^OPTIONS sip:127\.0\.0\.1:\d+ SIP\/2\.0$/);

    // A scenario expecting 404 fails against the 200-only responder: code 1, error trace.
    const xml = (await Deno.readTextFile(`${SUPPORT}options_uac.xml`))
      .replace('<recv response="200" />', '<recv response="404" />');
    const failing = await runSipp({
      scenarioXml: xml,
      args: [`127.0.0.1:${responder.port}`, "-p", String(freePort("udp"))],
      calls: 1,
      timeoutMs: 15_000,
    });
    assert.equal(failing.code, 1, describeSipp(failing));
    assert.equal(failing.stats?.failedCalls, 1, describeSipp(failing));
    assert.match(failing.errors, /200 OK/, describeSipp(failing));
  } finally {
    await responder.close();
  }
});

/** A Deno WebSocket echo server (answers subprotocol "sip" when offered). */
function startWsEcho(tls?: { cert: string; key: string }): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {}, ...tls }, (req) => {
    if (req.headers.get("upgrade") !== "websocket") return new Response("not ws", { status: 426 });
    const offered = (req.headers.get("sec-websocket-protocol") ?? "").split(",").map((p) =>
      p.trim()
    );
    const { socket, response } = Deno.upgradeWebSocket(req, {
      protocol: offered.includes("sip") ? "sip" : undefined,
    });
    socket.onmessage = (e) => socket.send(e.data);
    return response;
  });
}

/** In the page: open a WebSocket with subprotocol "sip", send text, resolve with the echo. */
function wsEchoInPage(
  url: string,
): Promise<{ protocol: string; echo: string } | { error: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, "sip");
    const timer = setTimeout(() => resolve({ error: "timeout" }), 8000);
    ws.onopen = () => ws.send("OPTIONS sip:echo SIP/2.0");
    ws.onmessage = (e) => {
      clearTimeout(timer);
      resolve({ protocol: ws.protocol, echo: String(e.data) });
      ws.close();
    };
    ws.onerror = () => {
      clearTimeout(timer);
      resolve({ error: "websocket error" });
    };
  });
}

Deno.test({
  name: "browser: netns Chromium reaches relayed host ports only (HTTP, WS and WSS 'sip' echo)",
  // Playwright keeps internal timers and pipes that outlive a single test's op accounting.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "harness-browser-" });
    const servers: Deno.HttpServer[] = [];
    let browser: BrowserHandle | undefined;
    try {
      const http = Deno.serve(
        { hostname: "127.0.0.1", port: 0, onListen: () => {} },
        () =>
          new Response("<html><body><p id=m>served-from-host</p></body></html>", {
            headers: { "content-type": "text/html" },
          }),
      );
      servers.push(http);
      const ws = startWsEcho();
      servers.push(ws);
      const { cert, key } = await makeSelfSignedCert(dir);
      const wss = startWsEcho({ cert, key });
      servers.push(wss);
      const unrelayed = startWsEcho();
      servers.push(unrelayed);
      browser = await launchBrowser({
        relayPorts: [http.addr.port, ws.addr.port, wss.addr.port],
      });
      const page = await browser.newPage();
      assert.equal(await page.evaluate("isSecureContext"), true);
      await page.goto(`http://127.0.0.1:${http.addr.port}/`, { timeout: 10_000 });
      assert.equal(await page.textContent("#m"), "served-from-host");

      assert.deepEqual(
        await page.evaluate(wsEchoInPage, `ws://127.0.0.1:${ws.addr.port}`),
        { protocol: "sip", echo: "OPTIONS sip:echo SIP/2.0" },
      );
      assert.deepEqual(
        await page.evaluate(wsEchoInPage, `wss://127.0.0.1:${wss.addr.port}`),
        { protocol: "sip", echo: "OPTIONS sip:echo SIP/2.0" },
      );
      // Not relayed: the namespace has no route to the host's loopback.
      assert.deepEqual(
        await page.evaluate(wsEchoInPage, `ws://127.0.0.1:${unrelayed.addr.port}`),
        { error: "websocket error" },
      );
    } finally {
      await browser?.close();
      await Promise.all(servers.map((s) => s.shutdown()));
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "browser: JsSIP loads and two RTCPeerConnections exchange media over 127.0.0.1 only",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const browser = await launchBrowser();
    const marker = `SIPWS_RELAY_DIR=${browser.workDir}`;
    try {
      assert.ok((await processesWithEnv(marker)).length >= 2, "chromium and relay run");
      const page = await browser.newPage();
      const log = capturePageLog(page);
      await page.evaluate("console.log('page-log-probe')");
      assert.ok(log.includes("console.log: page-log-probe"), log.join("\n"));
      const version = await loadJsSip(page);
      assert.match(version, /^3\./);
      assert.equal(await page.evaluate("typeof JsSIP.UA"), "function");

      // Browser-side code as a string: Deno's type libs have no WebRTC DOM types.
      const result = await page.evaluate(`(async () => {
        const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
        const a = new RTCPeerConnection({ iceServers: [] });
        const b = new RTCPeerConnection({ iceServers: [] });
        a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
        b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
        for (const track of stream.getTracks()) a.addTrack(track, stream);
        await a.setLocalDescription(await a.createOffer());
        await b.setRemoteDescription(a.localDescription);
        await b.setLocalDescription(await b.createAnswer());
        await a.setRemoteDescription(b.localDescription);
        const deadline = Date.now() + 15_000;
        let packets = 0;
        let local = "";
        let remote = "";
        while (Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 250));
          const stats = await b.getStats();
          let pairId = "";
          stats.forEach((s) => {
            if (s.type === "inbound-rtp") packets = s.packetsReceived ?? 0;
            if (s.type === "transport" && s.selectedCandidatePairId) {
              pairId = s.selectedCandidatePairId;
            }
          });
          const pair = pairId ? stats.get(pairId) : undefined;
          if (pair) {
            local = stats.get(pair.localCandidateId)?.address ?? "";
            remote = stats.get(pair.remoteCandidateId)?.address ?? "";
          }
          if (packets > 0 && local) break;
        }
        const state = b.connectionState;
        a.close();
        b.close();
        for (const t of stream.getTracks()) t.stop();
        return { packets, local, remote, state };
      })()`) as { packets: number; local: string; remote: string; state: string };
      assert.equal(result.state, "connected", JSON.stringify(result));
      assert.equal(result.local, "127.0.0.1", JSON.stringify(result));
      assert.equal(result.remote, "127.0.0.1", JSON.stringify(result));
      assert.ok(result.packets > 0, JSON.stringify(result));
    } finally {
      await browser.close();
    }
    // close() leaves no browser or relay process and no work dir behind.
    let left: number[] = [];
    for (let i = 0; i < 100; i++) {
      left = await processesWithEnv(marker);
      if (left.length === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(left, [], "processes left after close()");
    await assert.rejects(Deno.stat(browser.workDir), Deno.errors.NotFound);
  },
});
