import assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigError, findConfigFile, loadConfig, searchDirs } from "./load.ts";

async function dirs() {
  const root = await Deno.makeTempDir({ prefix: "sipws_load_" });
  const env = {
    binaryDir: join(root, "bin"),
    cwd: join(root, "cwd"),
    systemDir: join(root, "etc"),
  };
  for (const d of Object.values(env)) await Deno.mkdir(d);
  return { root, env };
}

Deno.test("search order: binary folder, current folder, system folder; TOML before cfg", async () => {
  const { root, env } = await dirs();
  try {
    assert.deepEqual(searchDirs(env), [env.binaryDir, env.cwd, env.systemDir]);
    assert.equal(await findConfigFile(env), undefined);
    await Deno.writeTextFile(join(env.systemDir, "sipws.toml"), "udp_port = 3");
    assert.equal(await findConfigFile(env), join(env.systemDir, "sipws.toml"));
    await Deno.writeTextFile(join(env.cwd, "sipws.toml"), "udp_port = 2");
    assert.equal(await findConfigFile(env), join(env.cwd, "sipws.toml"));
    await Deno.writeTextFile(join(env.binaryDir, "sipws.cfg"), "-u 9");
    assert.equal(await findConfigFile(env), join(env.cwd, "sipws.toml"), "any TOML beats a cfg");
    await Deno.writeTextFile(join(env.binaryDir, "sipws.toml"), "udp_port = 1");
    assert.equal(await findConfigFile(env), join(env.binaryDir, "sipws.toml"));
    const r = await loadConfig([], env);
    assert.equal(r.config.udpPort, 1);
    assert.deepEqual(r.sources, ["defaults", join(env.binaryDir, "sipws.toml")]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("precedence: defaults < file < flags; --skipconfig and --config", async () => {
  const { root, env } = await dirs();
  try {
    await Deno.writeTextFile(
      join(env.cwd, "sipws.toml"),
      `udp_port = 5070\ntcp_port = 5071\nkeys = ["filekey"]\n[sip]\nt1 = 100\n`,
    );
    const r = await loadConfig(["-u", "6000", "-vv"], env);
    assert.equal(r.config.udpPort, 6000, "flag overrides file");
    assert.equal(r.config.tcpPort, 5071, "file overrides default");
    assert.equal(r.config.sip.t1, 100);
    assert.equal(r.config.sip.t2, 4000, "default kept");
    assert.equal(r.config.verbosity, 2);
    assert.deepEqual(r.config.keys, ["filekey"]);
    assert.deepEqual(r.sources, ["defaults", join(env.cwd, "sipws.toml"), "command line"]);
    assert.ok(r.explicit.has("tcp_port") && r.explicit.has("udp_port") && r.explicit.has("sip.t1"));
    assert.ok(!r.explicit.has("pid_file"));

    assert.deepEqual((await loadConfig(["k1"], env)).config.keys, ["k1"], "flag keys replace");

    const skipped = await loadConfig(["--skipconfig", "-t", "1"], env);
    assert.equal(skipped.config.udpPort, undefined);
    assert.deepEqual(skipped.sources, ["defaults", "command line"]);

    await Deno.writeTextFile(join(root, "other.toml"), `ws_port = 8080\n`);
    const other = await loadConfig(["--config", join(root, "other.toml")], env);
    assert.equal(other.config.wsPort, 8080);
    assert.equal(other.config.udpPort, undefined, "--config replaces the search");
    const rel = await loadConfig(["--config=../other.toml"], env);
    assert.equal(rel.file, join(root, "other.toml"), "relative --config is from the cwd");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("legacy sipws.cfg is read when no sipws.toml exists, flags still win", async () => {
  const { root, env } = await dirs();
  try {
    await Deno.writeTextFile(join(env.systemDir, "sipws.cfg"), "-u 5060 -p 8080 -v cfgkey\n");
    const r = await loadConfig(["-p", "9090"], env);
    assert.equal(r.config.udpPort, 5060);
    assert.equal(r.config.wsPort, 9090);
    assert.equal(r.config.verbosity, 1);
    assert.deepEqual(r.config.keys, ["cfgkey"]);
    assert.equal(r.file, join(env.systemDir, "sipws.cfg"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a bad file fails loadConfig with file, line and key", async () => {
  const { root, env } = await dirs();
  try {
    const f = join(env.cwd, "sipws.toml");
    await Deno.writeTextFile(f, `udp_port = 5060\n\n[sip]\nt1 = "fast"\n`);
    await assert.rejects(() => loadConfig(["-f"], env), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.file, f);
      assert.equal(e.line, 4);
      assert.equal(e.key, "sip.t1");
      assert.equal(e.message, `${f}:4: sip.t1: expected an integer, got string 'fast'`);
      return true;
    });
    await assert.rejects(
      () => loadConfig(["--config", join(root, "missing.toml")], env),
      /missing\.toml: no such file/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
