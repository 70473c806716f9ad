import assert from "node:assert/strict";
import { parse } from "smol-toml";
import { defaultConfig } from "./config.ts";
import {
  applyPatch,
  ConfigError,
  lineOfKey,
  nearestKey,
  parseTomlConfig,
  schemaKeys,
  specOf,
} from "./toml.ts";

function fails(source: string, expected: string): void {
  assert.throws(() => parseTomlConfig(source, "sipws.toml"), (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.message, expected);
    return true;
  });
}

/** Dotted snake_case keys of the object defaultConfig() returns. */
function defaultKeys(): string[] {
  const snake = (s: string) => s.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase());
  const out: string[] = [];
  for (const [k, v] of Object.entries(defaultConfig())) {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      for (const j of Object.keys(v)) out.push(`${snake(k)}.${snake(j)}`);
    } else out.push(snake(k));
  }
  return out;
}

Deno.test("schema covers every key of defaultConfig()", () => {
  const keys = schemaKeys();
  for (const k of defaultKeys()) assert.ok(keys.includes(k), `schema lacks ${k}`);
  for (const k of keys) assert.ok(specOf(k), k);
});

Deno.test("sipws.toml.example parses, documents every key and states the defaults", async () => {
  const text = await Deno.readTextFile(new URL("../../sipws.toml.example", import.meta.url));
  const patch = parseTomlConfig(text, "sipws.toml.example");
  // Every key appears, set or commented out, in its own table.
  for (const k of schemaKeys()) {
    const [table, key] = k.includes(".") ? k.split(".") : [undefined, k];
    const uncommented = text.replace(/^#\s*(\w+\s*=)/gm, "$1");
    assert.ok(lineOfKey(uncommented, table, key) !== undefined, `example lacks ${k}`);
  }
  // Values set in the example are the embedded defaults.
  assert.deepEqual(applyPatch(defaultConfig(), patch), defaultConfig());
  // Commented values parse too and are valid (ports, file names).
  const all = parseTomlConfig(text.replace(/^#\s*(\w+\s*=)/gm, "$1"), "x", undefined);
  assert.equal(all.udpPort, 5060);
  assert.equal(all.storePath, "sipws.db");
  for (const k of defaultKeys()) {
    const [table, key] = k.includes(".") ? k.split(".") : [undefined, k];
    assert.ok(lineOfKey(text, table, key) ?? text.includes(`# ${key} =`), k);
  }
});

Deno.test("values map snake_case keys onto Config", () => {
  const p = parseTomlConfig(
    `udp_port = 5070
log_format = "json"
keys = ["a", "b"]
[sip]
t1 = 100
digest_algorithms = ["SHA-256", "MD5"]
[websocket]
allowed_origins = ["https://example.com"]
[callbacks]
backoff_ms = 10
`,
    "f.toml",
  );
  assert.deepEqual(p, {
    udpPort: 5070,
    logFormat: "json",
    keys: ["a", "b"],
    sip: { t1: 100, digestAlgorithms: ["SHA-256", "MD5"] },
    websocket: { allowedOrigins: ["https://example.com"] },
    callbacks: { backoffMs: 10 },
  });
  const c = applyPatch(defaultConfig(), p);
  assert.equal(c.sip.t2, 4000, "untouched keys of a table keep defaults");
  assert.equal(c.sip.t1, 100);
});

Deno.test("relative file names resolve against the file's folder", () => {
  const p = parseTomlConfig(`certificate = "c.pem"\nprivate_key = "/abs/k.pem"`, "f", "/etc/sipws");
  assert.equal(p.certificate, "/etc/sipws/c.pem");
  assert.equal(p.privateKey, "/abs/k.pem");
});

Deno.test("each error names file, line and key", () => {
  fails(
    `# c\nudp_port = "5060"\n`,
    "sipws.toml:2: udp_port: expected a port number, got string '5060'",
  );
  fails(`tcp_port = 70000`, "sipws.toml:1: tcp_port: port 70000 out of range 1-65535");
  fails(`ws_port = 1.5`, "sipws.toml:1: ws_port: expected a port number, got float 1.5");
  fails(
    `log_format = "xml"`,
    "sipws.toml:1: log_format: expected one of 'text', 'json', got 'xml'",
  );
  fails(`foreground = "yes"`, "sipws.toml:1: foreground: expected true or false, got string 'yes'");
  fails(`verbosity = 4`, "sipws.toml:1: verbosity: 4 out of range 0-3");
  fails(
    `[sip]\nt1 = 500\n\n[ping]\ninterval = -1\n`,
    "sipws.toml:5: ping.interval: -1 out of range 0-86400",
  );
  fails(
    `[sip]\ndigest_algorithms = ["MD5", "SHA1"]`,
    `sipws.toml:2: sip.digest_algorithms: unknown digest algorithm 'SHA1' (use "MD5", "SHA-256")`,
  );
  fails(
    `[websocket]\nallowed_origins = "x"`,
    "sipws.toml:2: websocket.allowed_origins: expected an array of strings, got string 'x'",
  );
  fails(`sip = 3`, "sipws.toml:1: sip: expected a table [sip], got integer 3");
  fails(`[sip]\nt1 = 5000\nt2 = 4000`, "sipws.toml:3: sip.t2: t2 (4000) below t1 (5000)");
  fails(`sip.t1 = "x"`, "sipws.toml:1: sip.t1: expected an integer, got string 'x'");
});

Deno.test("syntax errors carry the line", () => {
  assert.throws(
    () => parseTomlConfig(`udp_port = 5060\nkeys = [1,\n\n`, "sipws.toml"),
    /^ConfigError: sipws\.toml:[34]: TOML syntax error: \w/,
  );
  fails(
    `udp_port = 5060\nudp_port = 5061\n`,
    "sipws.toml:2: TOML syntax error: trying to redefine an already defined table or value",
  );
  assert.throws(
    () => parseTomlConfig(`a = 1\nb =\n`, "x.toml"),
    /x\.toml:2: TOML syntax error: invalid value/,
  );
});

Deno.test("unknown keys are errors with the nearest known key as a hint", () => {
  fails(`udpport = 5060`, "sipws.toml:1: udpport: unknown key (did you mean 'udp_port'?)");
  fails(
    `[sip]\nt1 = 500\ntl = 500`,
    "sipws.toml:3: sip.tl: unknown key (did you mean 't1' in [sip]?)",
  );
  fails(`t1 = 500`, "sipws.toml:1: t1: unknown key (did you mean 't1' in [sip]?)");
  fails(`[websockets]\nx = 1`, "sipws.toml:1: websockets: unknown key (did you mean 'websocket'?)");
  fails(`zzzzzzzzzzzz = 1`, "sipws.toml:1: zzzzzzzzzzzz: unknown key");
  fails(`udpPort = 5060`, "sipws.toml:1: udpPort: unknown key (did you mean 'udp_port'?)");
  assert.equal(nearestKey("allowed_origin"), "websocket.allowed_origins");
});

Deno.test("lineOfKey finds keys per table, quoted keys and dotted keys", () => {
  const src = `a = 1\n[sip]\n"t1" = 2\n[ping]\ninterval = 3\n`;
  assert.equal(lineOfKey(src, undefined, "a"), 1);
  assert.equal(lineOfKey(src, "sip", "t1"), 3);
  assert.equal(lineOfKey(src, "ping", "interval"), 5);
  assert.equal(lineOfKey(src, "sip", "interval"), 2, "falls back to the table line");
  assert.ok(parse(src));
});

Deno.test("[abuse] keys: values map onto Config, bad ones name file, line and key", () => {
  const p = parseTomlConfig(
    `[abuse]\nenabled = false\nban_after = 5\ntrusted = ["10.0.0.0/8", "::1"]\n`,
    "f.toml",
  );
  assert.deepEqual(p.abuse, { enabled: false, banAfter: 5, trusted: ["10.0.0.0/8", "::1"] });
  fails(
    `[abuse]\nban_time = 60\ntrusted = ["10.0.0.0/8", "10.0.0.0/40"]\n`,
    "sipws.toml:3: abuse.trusted: '10.0.0.0/40': prefix length must be 0-32",
  );
  fails(
    `[abuse]\ntrusted = ["office.example.com"]\n`,
    "sipws.toml:2: abuse.trusted: 'office.example.com' is not an IPv4 or IPv6 address range",
  );
  fails(`[abuse]\nban_after = 0\n`, "sipws.toml:2: abuse.ban_after: 0 out of range 1-100000");
  fails(`[abuse]\nrate_limit = -1\n`, "sipws.toml:2: abuse.rate_limit: -1 out of range 0-1000000");
});
