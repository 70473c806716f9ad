import assert from "node:assert/strict";
import { flagLabel, FLAGS, hasTransport, parseFlags, UsageError } from "./flags.ts";
import { ConfigError } from "./toml.ts";
import { defaultConfig } from "./config.ts";

/** SIPWS's `sipws -h` table: letter, long name, value placeholder. */
const SIPWS_TABLE: [string | undefined, string, string | undefined][] = [
  ["i", "interface", "<IP>"],
  ["r", "httpport", "<port>"],
  ["p", "port", "<port>"],
  ["s", "tlsport", "<port>"],
  ["u", "udpport", "<port>"],
  ["t", "tcpport", "<port>"],
  ["c", "certificate", "<file>"],
  ["k", "pk", "<file>"],
  ["w", "password", "<key>"],
  ["d", "data", "<file>"],
  ["b", "db", "<file>"],
  ["f", "foreground", undefined],
  ["v", "verbose", undefined],
  ["l", "locale", "<locale>"],
  ["8", "utf8", undefined],
  [undefined, "skipconfig", undefined],
];

Deno.test("flag table keeps SIPWS's letters, long names and value kinds in order", () => {
  const sipwsPart = FLAGS.slice(0, SIPWS_TABLE.length).map((f) => [f.short, f.long, f.value]);
  assert.deepEqual(sipwsPart, SIPWS_TABLE);
  // No addition steals a SIPWS letter: sipws's new flags are long-only.
  for (const f of FLAGS.slice(SIPWS_TABLE.length)) assert.equal(f.short, undefined, f.long);
});

Deno.test("every SIPWS flag sets the Config field its help text describes", () => {
  const p = parseFlags([
    "-i",
    "127.0.0.1",
    "-r",
    "8082",
    "-p",
    "8080",
    "-s",
    "8443",
    "-u",
    "5060",
    "-t",
    "5070",
    "-c",
    "cert.pem",
    "-k",
    "key.pem",
    "-w",
    "test",
    "-d",
    "req.json",
    "-b",
    "db.json",
    "-f",
    "-v",
    "-l",
    "ru_RU.UTF-8",
    "-8",
    "key1",
    "key2",
  ]);
  assert.deepEqual(p.patch, {
    interface: "127.0.0.1",
    httpPort: 8082,
    wsPort: 8080,
    wssPort: 8443,
    udpPort: 5060,
    tcpPort: 5070,
    certificate: "cert.pem",
    privateKey: "key.pem",
    certificatePassword: "test",
    dataFile: "req.json",
    dbFile: "db.json",
    foreground: true,
    verbosity: 1,
    locale: "ru_RU.UTF-8",
    utf8: true,
    keys: ["key1", "key2"],
  });
  assert.equal(p.meta.skipConfig, false);
});

Deno.test("long names and argtable2's --name=value and -xVALUE forms give the same values", () => {
  const long = parseFlags([
    "--interface=::1",
    "--httpport=8082",
    "--port=8080",
    "--tlsport=8443",
    "--udpport=5060",
    "--tcpport",
    "5070",
    "--certificate=c.pem",
    "--pk=k.pem",
    "--password=pw",
    "--data=d.json",
    "--db=b.json",
    "--foreground",
    "--verbose",
    "--locale=C",
    "--utf8",
    "--skipconfig",
  ]);
  const glued = parseFlags(["-u5060", "-t5070", "-p8080", "-s8443", "-r8082", "-i::1"]);
  assert.equal(long.patch.udpPort, 5060);
  assert.equal(long.patch.tcpPort, 5070);
  assert.equal(long.patch.interface, "::1");
  assert.equal(long.patch.privateKey, "k.pem");
  assert.equal(long.patch.certificatePassword, "pw");
  assert.equal(long.patch.foreground, true);
  assert.equal(long.patch.verbosity, 1);
  assert.equal(long.meta.skipConfig, true);
  assert.deepEqual(glued.patch, {
    udpPort: 5060,
    tcpPort: 5070,
    wsPort: 8080,
    wssPort: 8443,
    httpPort: 8082,
    interface: "::1",
  });
});

Deno.test("-v, -vv, -vvv and repeated -v give verbosity 1..3, capped at 3", () => {
  assert.equal(parseFlags(["-v"]).patch.verbosity, 1);
  assert.equal(parseFlags(["-vv"]).patch.verbosity, 2);
  assert.equal(parseFlags(["-vvv"]).patch.verbosity, 3);
  assert.equal(parseFlags(["-v", "-v"]).patch.verbosity, 2);
  assert.equal(parseFlags(["-vvvv"]).patch.verbosity, 3);
  assert.equal(parseFlags(["-fv8"]).patch.verbosity, 1);
  assert.equal(parseFlags(["-fv8"]).patch.utf8, true);
  assert.equal(parseFlags([]).patch.verbosity, undefined);
});

Deno.test("long-only sipws flags", () => {
  const p = parseFlags([
    "--tls-port",
    "5061",
    "--config",
    "x.toml",
    "--tui",
    "--log-format",
    "json",
    "--pid-file",
    "/run/sipws.pid",
    "--store",
    "a.db",
    "--log-file",
    "l.log",
    "--daemon-child",
  ]);
  assert.equal(p.patch.tlsPort, 5061);
  assert.equal(p.patch.tui, true);
  assert.equal(p.patch.logFormat, "json");
  assert.equal(p.patch.pidFile, "/run/sipws.pid");
  assert.equal(p.patch.storePath, "a.db");
  assert.equal(p.patch.logFile, "l.log");
  assert.deepEqual(p.meta, { configFile: "x.toml", skipConfig: false, daemonChild: true });
  assert.ok(p.keysSet.includes("tls_port"));
});

Deno.test("bad values name the flag", () => {
  assert.throws(() => parseFlags(["-u", "abc"]), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.message, "command line: -u/--udpport: 'abc' is not a number");
    return true;
  });
  assert.throws(() => parseFlags(["--udpport=70000"]), /-u\/--udpport: port 70000 out of range/);
  assert.throws(() => parseFlags(["-p", "0"]), /-p\/--port: port 0 out of range/);
  assert.throws(() => parseFlags(["--log-format", "xml"]), /--log-format: expected one of/);
  assert.throws(() => parseFlags(["-x"]), UsageError);
  assert.throws(() => parseFlags(["-u"]), UsageError);
});

Deno.test("flagLabel and hasTransport", () => {
  assert.equal(flagLabel(FLAGS.find((f) => f.long === "udpport")!), "-u/--udpport");
  assert.equal(flagLabel(FLAGS.find((f) => f.long === "tls-port")!), "--tls-port");
  const c = defaultConfig();
  assert.equal(hasTransport(c), false);
  for (const k of ["udpPort", "tcpPort", "tlsPort", "wsPort", "wssPort"] as const) {
    assert.equal(hasTransport({ ...c, [k]: 5060 }), true, k);
  }
  assert.equal(hasTransport({ ...c, httpPort: 8082 }), false);
});
