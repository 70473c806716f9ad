/**
 * Integration tests of sipws as a process: daemon mode (detach, pid file, SIGTERM), the
 * foreground mode's signals (SIGHUP reload, SIGTERM graceful exit 0), log format and that a
 * `-w` password never reaches a log. Each run is `deno run -A main.ts` with only a UDP
 * transport on a free loopback port; every wait is bounded.
 */
import assert from "node:assert/strict";
import { join } from "node:path";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const dec = new TextDecoder();

function freeUdpPort(): number {
  const s = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const port = (s.addr as Deno.NetAddr).port;
  s.close();
  return port;
}

/** Sends OPTIONS over UDP until a response comes (≤ `tries` × 1 s); returns its first line. */
async function probeOptions(port: number, tries = 10): Promise<string | undefined> {
  const sock = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const local = (sock.addr as Deno.NetAddr).port;
  try {
    for (let i = 0; i < tries; i++) {
      const msg = [
        `OPTIONS sip:127.0.0.1:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK-probe-${i}-${Date.now()}`,
        "Max-Forwards: 70",
        `From: <sip:probe@127.0.0.1>;tag=p${i}`,
        "To: <sip:127.0.0.1>",
        `Call-ID: probe-${i}-${Date.now()}@127.0.0.1`,
        "CSeq: 1 OPTIONS",
        "Content-Length: 0",
        "",
        "",
      ].join("\r\n");
      await sock.send(new TextEncoder().encode(msg), {
        transport: "udp",
        hostname: "127.0.0.1",
        port,
      });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<undefined>((r) => timer = setTimeout(() => r(undefined), 1000));
      const got = await Promise.race([sock.receive().then(([b]) => b), late]);
      clearTimeout(timer);
      if (got) return dec.decode(got).split("\r\n")[0];
    }
    return undefined;
  } finally {
    sock.close();
  }
}

/** True while `pid` runs (a zombie counts as gone: it has exited). */
function running(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

Deno.test({
  name: "daemon: detaches, writes its pid file, serves UDP, SIGTERM stops it and removes the file",
  ignore: Deno.build.os === "windows",
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "sipws_daemon_" });
    const port = freeUdpPort();
    const pidFile = join(dir, "sipws.pid");
    const logFile = join(dir, "sipws.log");
    const args = [
      "run",
      "-A",
      MAIN,
      "-u",
      String(port),
      "-i",
      "127.0.0.1",
      "--skipconfig",
      "--pid-file",
      pidFile,
      "--log-file",
      logFile,
      "-vvv",
      "--store",
      join(dir, "a.db"),
      "-w",
      "daemon-Secret-91",
    ];
    let pid: number | undefined;
    try {
      const parent = await new Deno.Command(Deno.execPath(), {
        args,
        cwd: dir,
        stdin: "null",
        signal: AbortSignal.timeout(60_000),
      }).output();
      const err = dec.decode(parent.stderr);
      assert.equal(parent.code, 0, err);
      assert.match(err, /sipws daemon started \(pid \d+/);
      pid = Number((await Deno.readTextFile(pidFile)).trim());
      assert.ok(pid > 0 && running(pid), `daemon ${pid} runs after its parent exited`);
      assert.equal(await probeOptions(port), "SIP/2.0 200 OK");

      // A second start with the same pid file is refused while the first runs.
      const again = await new Deno.Command(Deno.execPath(), {
        args,
        cwd: dir,
        stdin: "null",
        signal: AbortSignal.timeout(60_000),
      }).output();
      assert.equal(again.code, 1);
      assert.match(dec.decode(again.stderr), new RegExp(`already runs \\(pid ${pid}`));

      Deno.kill(pid, "SIGTERM");
      await waitFor("daemon exit", () => !running(pid!));
      await assert.rejects(() => Deno.stat(pidFile), Deno.errors.NotFound);
      const log = await Deno.readTextFile(logFile);
      assert.match(log, /\[cli\] SIGTERM: stopping/);
      assert.match(log, /\[cli\] stopped/);
      assert.ok(!log.includes("daemon-Secret-91"), "the -w password is never logged");
    } finally {
      if (pid !== undefined && running(pid)) Deno.kill(pid, "SIGKILL");
    }
  },
});

Deno.test({
  name: "foreground: json logs on stderr, SIGHUP reloads the file, SIGTERM exits 0, no password",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "sipws_fg_" });
    const port = freeUdpPort();
    const toml = join(dir, "sipws.toml");
    const good = (agent: string) =>
      `udp_port = ${port}\ninterface = "127.0.0.1"\nstore_path = "a.db"\nlog_format = "json"\n` +
      `verbosity = 3\n[sip]\nuser_agent = "${agent}"\n`;
    await Deno.writeTextFile(toml, good("first"));
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "-f", "--config", toml, "-w", "fg-Secret-42"],
      cwd: dir,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let stderr = "";
    const reader = (async () => {
      for await (const chunk of child.stderr) stderr += dec.decode(chunk);
    })();
    const stdoutDone = child.stdout.cancel();
    const killer = setTimeout(() => child.kill("SIGKILL"), 90_000);
    try {
      await waitFor("start", () => stderr.includes('"message":"started:'));
      assert.equal(await probeOptions(port), "SIP/2.0 200 OK");

      await Deno.writeTextFile(toml, good("second"));
      child.kill("SIGHUP");
      await waitFor("reload", () => stderr.includes("reloaded from"));

      // A broken file is refused on reload; the running server keeps serving.
      await Deno.writeTextFile(toml, good("third") + "bogus_key = 1\n");
      child.kill("SIGHUP");
      await waitFor("refusal", () => stderr.includes("reload refused"));
      assert.equal(await probeOptions(port), "SIP/2.0 200 OK");

      child.kill("SIGTERM");
      const status = await child.status;
      assert.equal(status.code, 0);
    } finally {
      clearTimeout(killer);
      try {
        child.kill("SIGKILL");
      } catch {
        // already exited
      }
      await child.status;
      await reader;
      await stdoutDone;
    }
    assert.ok(!stderr.includes("fg-Secret-42"), "the -w password is never logged");
    const records = stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
    assert.ok(records.length >= 4, stderr);
    for (const r of records) {
      assert.deepEqual(Object.keys(r), ["level", "time", "component", "message"]);
    }
    assert.ok(records.some((r) => r.message.startsWith("SIGTERM: stopping")));
    assert.ok(records.some((r) => /bogus_key: unknown key/.test(r.message)), stderr);
  },
});
