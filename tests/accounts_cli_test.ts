/**
 * @module `sipws accounts` end to end with real processes: the server (`deno run -A
 * main.ts -f --config sipws.toml`) and the CLI find the same store through the same
 * config file. While the server runs, `accounts add alice` goes through its HTTP API and
 * alice can REGISTER at once; while it is down, `accounts add bob` writes the store file
 * and bob can REGISTER after the restart. Also del/list/import/export and exit codes.
 */
import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";
import { parseMessage } from "../src/sip/parse.ts";
import { freePort, freePorts, waitForListening } from "./support/ports.ts";
import { type ChildProcess, runCommand, spawnChild } from "./support/process.ts";
import { computeHa1 } from "../src/sip/digest_hash.ts";
import { md5RegisterAuthorization } from "./support/sip_client.ts";

const MAIN = fromFileUrl(new URL("../main.ts", import.meta.url));
const ROOT = fromFileUrl(new URL("..", import.meta.url));
const DOMAIN = "example.test";

async function sipws(args: string[], cwd: string) {
  return await runCommand(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    cwd,
    timeoutMs: 30_000,
  });
}

interface Setup {
  dir: string;
  config: string;
  udpPort: number;
  httpPort: number;
}

async function setup(): Promise<Setup> {
  const dir = await Deno.makeTempDir({ prefix: "sipws-acct-" });
  const [udpPort] = freePorts(1);
  const httpPort = freePort("tcp");
  const config = `${dir}/sipws.toml`;
  await Deno.writeTextFile(
    config,
    [
      `interface = "127.0.0.1"`,
      `udp_port = ${udpPort}`,
      `http_port = ${httpPort}`,
      `store_path = "${dir}/accounts.db"`,
      `keys = ["cli-key"]`,
      "",
    ].join("\n"),
  );
  return { dir, config, udpPort, httpPort };
}

async function startSipws(s: Setup): Promise<ChildProcess> {
  const child = spawnChild(Deno.execPath(), {
    args: ["run", "-A", MAIN, "-f", "--config", s.config],
    cwd: ROOT,
  });
  try {
    await waitForListening(s.httpPort, "tcp", 20_000);
    await waitForListening(s.udpPort, "udp", 5_000);
  } catch (e) {
    await child.stop();
    throw new Error(`${(e as Error).message}\n${child.stderr}`);
  }
  return child;
}

/** REGISTER over UDP answering one digest challenge; returns the final status. */
async function register(sipPort: number, user: string, password: string): Promise<number> {
  const socket = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  const local = (socket.addr as Deno.NetAddr).port;
  const callId = crypto.randomUUID();
  let authorization: string | undefined;
  try {
    for (let cseq = 1; cseq <= 3; cseq++) {
      const text = [
        `REGISTER sip:${DOMAIN} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK${crypto.randomUUID()};rport`,
        "Max-Forwards: 70",
        `From: <sip:${user}@${DOMAIN}>;tag=a${cseq}`,
        `To: <sip:${user}@${DOMAIN}>`,
        `Call-ID: ${callId}`,
        `CSeq: ${cseq} REGISTER`,
        `Contact: <sip:${user}@127.0.0.1:${local}>`,
        "Expires: 600",
        ...(authorization ? [`Authorization: ${authorization}`] : []),
        "Content-Length: 0",
        "",
        "",
      ].join("\r\n");
      await socket.send(new TextEncoder().encode(text), {
        transport: "udp",
        hostname: "127.0.0.1",
        port: sipPort,
      });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const [bytes] = await Promise.race([
        socket.receive(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error("no SIP response")), 5000);
        }),
      ]).finally(() => clearTimeout(timer));
      const response = parseMessage(bytes);
      if (response.isRequest) throw new Error("unexpected request");
      if (response.status !== 401) return response.status;
      authorization = md5RegisterAuthorization(response.get("www-authenticate")!, {
        user,
        password,
        uri: `sip:${DOMAIN}`,
        cnonce: "c0ffee",
      });
    }
    return 401;
  } finally {
    socket.close();
  }
}

Deno.test("accounts add on a running server (HTTP API) and on a stopped one (store file)", async () => {
  const s = await setup();
  let server = await startSipws(s);
  try {
    // Seed the domain with another user so the server serves it.
    const first = await sipws(
      ["accounts", "add", "carol", "--domain", DOMAIN, "--password", "c", "--config", s.config],
      s.dir,
    );
    assert.equal(first.code, 0, first.stderr);
    assert.equal(await register(s.udpPort, "alice", "wonderland"), 403, "alice unknown yet");

    const add = await sipws(
      ["accounts", "add", "alice", "--password", "wonderland", "--config", s.config],
      s.dir,
    );
    assert.equal(add.code, 0, add.stderr);
    assert.match(
      add.stdout,
      new RegExp(`added alice@${DOMAIN} via http://127\\.0\\.0\\.1:${s.httpPort}`),
    );
    assert.equal(await register(s.udpPort, "alice", "wonderland"), 200);
    assert.equal(await register(s.udpPort, "alice", "wrong"), 403);

    const list = await sipws(["accounts", "list", "--json", "--config", s.config], s.dir);
    assert.equal(list.code, 0, list.stderr);
    const rows = JSON.parse(list.stdout) as { user: string; registered: boolean }[];
    assert.deepEqual(rows.map((r) => [r.user, r.registered]).sort(), [["alice", true], [
      "carol",
      false,
    ]]);

    const wrongKey = await sipws(
      ["accounts", "add", "mallory", "--password", "m", "--key", "bad", "--config", s.config],
      s.dir,
    );
    assert.equal(wrongKey.code, 1);
    assert.match(wrongKey.stderr, /^error: .*HTTP 403/m);

    await server.stop();
    const offline = await sipws(
      ["accounts", "add", "bob", "--password", "builder", "--config", s.config],
      s.dir,
    );
    assert.equal(offline.code, 0, offline.stderr);
    assert.match(offline.stdout, /added bob@example\.test in .*accounts\.db/);
    server = await startSipws(s);
    assert.equal(await register(s.udpPort, "bob", "builder"), 200);
    assert.equal(await register(s.udpPort, "alice", "wonderland"), 200);

    const del = await sipws(["accounts", "del", "alice", "--config", s.config], s.dir);
    assert.equal(del.code, 0, del.stderr);
    assert.equal(await register(s.udpPort, "alice", "wonderland"), 403);
    const again = await sipws(["accounts", "del", "alice", "--config", s.config], s.dir);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /no such account/);
  } finally {
    await server.stop();
    await Deno.remove(s.dir, { recursive: true });
  }
});

Deno.test("accounts import/export round trip between sqlite and the SIPWS JSON file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sipws-acct-io-" });
  try {
    const seed = `${dir}/seed.json`;
    await Deno.writeTextFile(
      seed,
      JSON.stringify({
        data: [
          {
            avail: "0",
            cn: "Alice",
            description: "",
            domain: "192.0.2.1",
            expire: 3600,
            id: "100",
            image: "http://acme.com/i/100.png",
            origin: "registry",
            password: "password",
            port: 5060,
          },
          { avail: "0", cn: "Bob", domain: "192.0.2.1", id: "101", password: "pw2" },
        ],
        domain: "192.0.2.1",
        ip: "192.0.2.1",
      }),
    );
    const store = ["--skipconfig", "--store", `${dir}/a.db`];
    const imp = await sipws(["accounts", "import", seed, ...store], dir);
    assert.equal(imp.code, 0, imp.stderr);
    assert.match(imp.stdout, /imported 2 entries/);
    const exp = await sipws(["accounts", "export", `${dir}/out.json`, ...store], dir);
    assert.equal(exp.code, 0, exp.stderr);
    const out = JSON.parse(await Deno.readTextFile(`${dir}/out.json`));
    assert.equal(out.data.length, 2);
    const alice = out.data.find((e: { id: string }) => e.id === "100");
    assert.equal(alice.cn, "Alice");
    assert.equal(alice.ha1, computeHa1("MD5", "100", "192.0.2.1", "password"));
    assert.equal(alice.password, undefined, "no plain password unless asked");
    assert.ok(!exp.stdout.includes("password"));

    // The export loads as a -b database and keeps working digests.
    const reimp = await sipws([
      "accounts",
      "import",
      `${dir}/out.json`,
      "--skipconfig",
      "-b",
      `${dir}/b.json`,
    ], dir);
    assert.equal(reimp.code, 0, reimp.stderr);
    const list = await sipws(
      ["accounts", "list", "--json", "--skipconfig", "-b", `${dir}/b.json`],
      dir,
    );
    assert.deepEqual(
      (JSON.parse(list.stdout) as { user: string }[]).map((r) => r.user).sort(),
      ["100", "101"],
    );
    const b = JSON.parse(await Deno.readTextFile(`${dir}/b.json`));
    assert.equal(b.data.find((e: { id: string }) => e.id === "100").ha1, alice.ha1);

    const bad = await sipws(["accounts", "import", `${dir}/missing.json`, ...store], dir);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^error: /m);
    const noDomain = await sipws([
      "accounts",
      "add",
      "x",
      "--password",
      "p",
      "--skipconfig",
      "--store",
      `${dir}/new.db`,
    ], dir);
    assert.equal(noDomain.code, 2);
    assert.match(noDomain.stderr, /--domain is required/);
    const noPassword = await sipws(["accounts", "add", "x", "--domain", "d.test", ...store], dir);
    assert.equal(noPassword.code, 2, "stdin is not a terminal: --password is required");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
