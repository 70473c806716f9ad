/**
 * Terminal dashboard, end to end: the real binary (`deno run -A main.ts -f --tui ...`) runs
 * in a tmux pseudo-terminal; real clients register over WebSocket and UDP and place a call
 * through the proxy; the test reads the screen with `capture-pane` and types keys with
 * `send-keys`. It asserts that the registration shows in Registrations, the call in
 * Dialogs, that `c` closes the WebSocket connection (the client sees the close), `k`
 * removes a binding, the layout follows a live resize to 80x24, and `q` exits 0. The same
 * registration shows through `sipws tui --url --key` against a running server; without a
 * terminal both commands degrade to plain text.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import type { SipMessage, SipRequest, SipResponse } from "../src/sip/message.ts";
import { freePort, freePorts, waitHealthy } from "./support/ports.ts";
import { spawnChild } from "./support/process.ts";
import { register, TestSipClient } from "./support/sip_client.ts";
import { inviteWithAuth, isReq, sipReply } from "./support/sip_call.ts";
import { startTestServer } from "./support/test_server.ts";
import { hasTmux, TmuxTerminal } from "./support/tmux.ts";
import { SERVER_RUN_FLAGS } from "../src/cli/v8_flags.ts";
import { ALICE, BOB, DOMAIN } from "./support/accounts.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const KEY = "tui-test-key";
const UA = "TuiTestPhone/1.0";

async function api(base: string, method: string, path: string, body?: unknown) {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, text };
}

/** alice (caller) → bob through the proxy, with proxy auth; bob answers 180 then 200. */
async function placeCall(alice: TestSipClient, bob: TestSipClient, callId: string) {
  await inviteWithAuth(alice, { callId, fromTag: "tuiA", cseq: 1 }, ALICE, `sip:bob@${DOMAIN}`);
  const invite = await bob.wait(isReq("INVITE", callId)) as SipRequest;
  const contact = ["Contact: <sip:bob@127.0.0.1>"];
  await bob.send(sipReply(invite, 180, "Ringing", { toTag: "tuiB", extra: contact }));
  await bob.send(sipReply(invite, 200, "OK", { toTag: "tuiB", extra: contact }));
  const ok = await alice.wait((m: SipMessage) =>
    !m.isRequest && m.callId === callId && m.status === 200
  );
  assert.equal((ok as SipResponse).status, 200, "the caller gets the 200");
}

function serveArgs(o: { udp: number; ws: number; http: number; dir: string }): string[] {
  return [
    Deno.execPath(),
    "run",
    "-A",
    // As `deno task start` runs it: the dashboard and the HTTP routes load at first use.
    ...SERVER_RUN_FLAGS,
    "main.ts",
    "-f",
    "--tui",
    "-i",
    "127.0.0.1",
    "-u",
    String(o.udp),
    "-p",
    String(o.ws),
    "--skipconfig",
    "--store",
    `${o.dir}/sipws.db`,
    "-r",
    String(o.http),
    KEY,
  ];
}

Deno.test({
  name: "tui: serve --tui shows a registration and a call, c closes a WS, k removes, q exits 0",
  ignore: !hasTmux,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "sipws-tui-" });
    const [ws, http] = freePorts(2);
    const udp = freePort("udp");
    const base = `http://127.0.0.1:${http}`;
    // CI=true must not turn the dashboard into a one-shot print.
    const term = await TmuxTerminal.start(serveArgs({ udp, ws, http, dir }), {
      cwd: ROOT,
      cols: 100,
      rows: 30,
      dir,
      env: { CI: "true" },
    });
    const clients: TestSipClient[] = [];
    try {
      await term.waitFor(/1 Registrations/, 60_000);
      await waitHealthy(base);
      const put = await api(base, "PUT", `/dir/${DOMAIN}`, {
        users: [
          { username: ALICE.user, secret: ALICE.password },
          { username: BOB.user, secret: BOB.password },
        ],
      });
      assert.equal(put.status, 201, put.text);

      const alice = await TestSipClient.connect("ws", ws);
      clients.push(alice);
      const ra = await register(alice, {
        ...ALICE,
        expires: 600,
        extraHeaders: [`User-Agent: ${UA}`],
      });
      assert.equal(ra.status, 200);
      const bob = await TestSipClient.connect("udp", udp);
      clients.push(bob);
      assert.equal((await register(bob, { ...BOB, expires: 300 })).status, 200);

      // Registrations pane (the default): AOR, transport, remote address, agent, countdown.
      // Both bindings drawn (a snapshot taken between the two 200s shows alice's alone).
      let screen = await term.waitFor(/regs 2 /);
      assert.match(screen, /alice@example\.test .* ws .*TuiTestPhone/);
      assert.match(
        screen,
        new RegExp(`bob@example\\.test .* udp +127\\.0\\.0\\.1:${bob.localPort} `),
      );
      assert.match(screen, /alice@example\.test .* (9m5\d|10m00)s/, "expires countdown");
      assert.match(screen, new RegExp(`udp 127\\.0\\.0\\.1:${udp}`), "header lists listeners");

      // Dialogs pane: the call alice → bob through the proxy.
      const callId = `tui-call-${crypto.randomUUID().slice(0, 8)}`;
      await placeCall(alice, bob, callId);
      await term.keys("2");
      screen = await term.waitFor(
        new RegExp(`${callId} .*alice@example\\.test → bob@example\\.test.*confirmed`),
      );
      assert.match(screen, /ws→udp/, "both legs' transports");

      // `/` filter on the Registrations pane.
      await term.keys("1");
      await term.type("/bob");
      await term.keys("Enter");
      screen = await term.waitFor(/filter "bob"/);
      assert.doesNotMatch(screen, /alice@example\.test/);
      assert.match(screen, /bob@example\.test/);
      await term.keys("Escape");
      await term.waitFor(/alice@example\.test/);

      // WebSocket pane: `c` closes the selected (only) connection; the client sees it.
      await term.keys("3");
      await term.waitFor(new RegExp(`ws:\\S+ +127\\.0\\.0\\.1:\\d+ `));
      await term.keys("p");
      await term.waitFor(/pinged ws:\S+/);
      // `d` refuses new WebSocket handshakes (503) and says so in the header; again, accepts.
      await term.keys("d");
      await term.waitFor(/ws 1 \(new: 503\)/);
      const enabled = async () => JSON.parse((await api(base, "GET", "/ws")).text).enabled;
      assert.equal(await enabled(), false);
      await term.keys("d");
      await term.waitForGone(/new: 503/);
      assert.equal(await enabled(), true);
      await term.keys("c");
      const closed = await Promise.race([
        alice.closed.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), 5000)),
      ]);
      assert.ok(closed, "the WebSocket client saw the close");
      screen = await term.waitFor(/closed ws:\S+/);
      await term.keys("1");
      // The Registrations pane drawn first: the WebSocket pane, empty now, also lacks alice,
      // and a `k` typed before the switch is drawn may be read with it in one chunk ("1k"),
      // where it counts the WebSocket pane's rows (none) and removes nothing.
      await term.waitFor(/AOR +CONTACT/);
      await term.waitForGone(/alice@example\.test/);

      // `k` removes the selected registration (bob's, the only one left).
      screen = await term.waitFor(/regs 1 /);
      await term.keys("k");
      await term.waitFor(/regs 0 /);
      const reg = await api(base, "GET", "/reg");
      assert.equal(JSON.parse(reg.text).count, 0, "the binding is gone from the server");

      // Help overlay and the Log pane (the dashboard's own actions are logged there).
      await term.keys("?");
      await term.waitFor(/Keys[\s\S]*q {2}Ctrl-C/);
      await term.keys("x", "4");
      await term.waitFor(/\[tui\] closed ws:\S+/);

      // Live resize to 80x24: every line fits and the status line is the 24th.
      await term.resize(80, 24);
      await term.keys("1");
      screen = await term.waitFor(/AOR +CONTACT/);
      const lines = screen.replace(/\n$/, "").split("\n");
      assert.ok(lines.every((l) => [...l].length <= 80), "no line wider than 80");
      assert.equal(lines.length, 24);
      assert.match(lines[23], /q quit|removed bob@example\.test/, "the status line is the last");
      assert.match(lines[0], /^sipws \d+\.\d+\.\d+ +up /);

      // `q` stops the server cleanly with status 0.
      await term.keys("q");
      assert.equal(await term.exitCode(20_000), 0, "q exits 0");
      const gone = await fetch(`${base}/healthz`).then((r) => r.body?.cancel()).then(
        () => false,
        () => true,
      );
      assert.ok(gone, "the server stopped listening");
    } finally {
      for (const c of clients) c.close();
      await term.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "tui: sipws tui --url --key shows bindings with Contact, k removes one, c closes a WS",
  ignore: !hasTmux,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using ts = await startTestServer({
      transports: ["udp", "ws"],
      accounts: [ALICE],
      apiKey: KEY,
    });
    const httpPort = ts.config.httpPort;
    const alice = await TestSipClient.connect("ws", ts.port("ws"));
    const clients = [alice];
    const dir = await Deno.makeTempDir({ prefix: "sipws-tui-" });
    const term = await TmuxTerminal.start(
      [
        Deno.execPath(),
        "run",
        "-A",
        "main.ts",
        "tui",
        "--url",
        `http://127.0.0.1:${httpPort}`,
        "--key",
        KEY,
      ],
      { cwd: ROOT, cols: 100, rows: 30, dir },
    );
    try {
      const ok = await register(alice, {
        ...ALICE,
        expires: 600,
        extraHeaders: [`User-Agent: ${UA}`],
      });
      assert.equal(ok.status, 200);
      // A second binding of the same AOR, over UDP.
      const desk = await TestSipClient.connect("udp", ts.port("udp"));
      clients.push(desk);
      assert.equal((await register(desk, { ...ALICE, expires: 300 })).status, 200);
      let screen = await term.waitFor(/alice@example\.test .* ws .*TuiTestPhone/, 60_000);
      // Rows come from GET /bindings, with the Contact column.
      screen = await term.waitFor(
        new RegExp(`alice@example\\.test +u@127\\.0\\.0\\.1:${desk.localPort} +udp `),
      );
      assert.match(screen, /alice@example\.test +xyz@abc123\.invalid;\S* +ws /, "WS contact");
      assert.match(screen, new RegExp(`sipws @ http://127\\.0\\.0\\.1:${httpPort}`));
      assert.match(screen, /regs 2 /);
      assert.match(screen, /alice@example\.test .* (9m5\d|10m00)s/, "expires countdown");
      // /healthz gives the header the listening addresses (and the version line).
      assert.match(screen, new RegExp(`udp 127\\.0\\.0\\.1:${ts.port("udp")}`));
      assert.match(screen, new RegExp(`ws 127\\.0\\.0\\.1:${ts.port("ws")}`));

      // `k` removes the selected binding only (DELETE /bindings/{id}); the other stays.
      await term.keys("k");
      await term.waitFor(/regs 1 /);
      const left = ts.server.location.lookup(`alice@${DOMAIN}`);
      assert.equal(left.length, 1, "the other binding of alice stays");
      const wsLeft = left[0].flow.transport === "ws";

      await term.keys("3");
      await term.waitFor(/ws:\S+ +127\.0\.0\.1:\d+ /);
      // `d` over the API: POST /ws/disable, then /ws/enable.
      await term.keys("d");
      await term.waitFor(/\(new: 503\)/);
      assert.equal(ts.server.transport.webSocketsEnabled, false);
      await term.keys("d");
      await term.waitForGone(/new: 503/);
      assert.equal(ts.server.transport.webSocketsEnabled, true);
      await term.keys("c");
      const closed = await Promise.race([
        alice.closed.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), 5000)),
      ]);
      assert.ok(closed, "the WebSocket client saw the close (POST /ws/{id}/close)");
      await term.keys("q");
      assert.equal(await term.exitCode(), 0);
      assert.equal(ts.server.location.size, wsLeft ? 0 : 1, "a WS binding goes with its flow");
    } finally {
      for (const c of clients) c.close();
      await term.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "tui: without a terminal, serve --tui keeps plain logs and tui --url prints summaries",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "sipws-tui-" });
    const [ws, http] = freePorts(2);
    const udp = freePort("udp");
    const [exe, ...args] = serveArgs({ udp, ws, http, dir });
    const server = spawnChild(exe, { args, cwd: ROOT });
    try {
      await server.waitForLine(/stdout is not a terminal/, 60_000, "stderr");
      await waitHealthy(`http://127.0.0.1:${http}`);
      const tui = spawnChild(Deno.execPath(), {
        args: ["run", "-A", "main.ts", "tui", "--url", `http://127.0.0.1:${http}`, "--key", KEY],
        cwd: ROOT,
      });
      try {
        await tui.waitForLine(/regs 0 .*parse err 0/, 60_000, "stdout");
        tui.kill("SIGINT");
        const { status } = await tui.wait(10_000);
        assert.equal(status.code, 0);
        assert.ok(!tui.stdout.includes("\x1b["), "no escape sequences in the plain output");
      } finally {
        await tui.stop();
      }
      const wrongKey = spawnChild(Deno.execPath(), {
        args: ["run", "-A", "main.ts", "tui", "--url", `http://127.0.0.1:${http}`, "--key", "nope"],
        cwd: ROOT,
      });
      const refused = await wrongKey.wait(60_000);
      assert.equal(refused.status.code, 1);
      assert.match(wrongKey.stderr, /refused the key/);
      server.kill("SIGTERM");
      const { status } = await server.wait(15_000);
      assert.equal(status.code, 0);
      assert.ok(!server.stdout.includes("\x1b["), "the server drew nothing");
    } finally {
      await server.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
