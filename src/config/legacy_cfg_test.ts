import assert from "node:assert/strict";
import { parseLegacyCfg, tokenizeCommandLine } from "./legacy_cfg.ts";
import { ConfigError } from "./toml.ts";

Deno.test("tokenizer splits a command line with quotes, comments and lines", () => {
  const t = tokenizeCommandLine(`-u 5060 -c "my cert.pem"\n# comment -x\n-w 'a b' key1\n`);
  assert.deepEqual(t, [
    { text: "-u", line: 1 },
    { text: "5060", line: 1 },
    { text: "-c", line: 1 },
    { text: "my cert.pem", line: 1 },
    { text: "-w", line: 3 },
    { text: "a b", line: 3 },
    { text: "key1", line: 3 },
  ]);
  assert.throws(() => tokenizeCommandLine(`-c "open`, "x.cfg"), /x\.cfg:1: unclosed " quote/);
});

Deno.test("a SIPWS-style sipws.cfg gives the same values as the command line", () => {
  const p = parseLegacyCfg(
    "-f -vv -u 5060 -t 5060 -p 8080 -r 8082 --db=accounts.json k1 k2",
    "s.cfg",
  );
  assert.deepEqual(p.patch, {
    foreground: true,
    verbosity: 2,
    udpPort: 5060,
    tcpPort: 5060,
    wsPort: 8080,
    httpPort: 8082,
    dbFile: "accounts.json",
    keys: ["k1", "k2"],
  });
});

Deno.test("sipws.cfg errors name the file and the line of the bad argument", () => {
  assert.throws(() => parseLegacyCfg("-f\n-t 5060\n-u99999\n", "/etc/sipws.cfg"), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.message, "/etc/sipws.cfg:3: -u/--udpport: port 99999 out of range 1-65535");
    return true;
  });
  assert.throws(
    () => parseLegacyCfg("-f\n\n--bogus 1", "s.cfg"),
    /^ConfigError: s\.cfg:3: --bogus: unknown option '--bogus'/,
  );
  assert.throws(
    () => parseLegacyCfg("--config other.toml", "s.cfg"),
    /s\.cfg:1: --config: not allowed/,
  );
});
