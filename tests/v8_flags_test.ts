/**
 * The server's V8 flags (src/cli/v8_flags.ts) reach every way sipws is started: the
 * `start` and `compile` tasks of deno.json (which cannot import the constant), the
 * cross-compile arguments, the daemon's / systemd unit's re-run of itself, and the command
 * lines the benches and tests spawn. Likewise `--unstable-lazy-dynamic-imports` for every
 * `deno run` of the server, and never for `deno compile`.
 */
import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { LAZY_IMPORTS_FLAG, V8_FLAGS_ARG } from "../src/cli/v8_flags.ts";
import { compileArgs } from "../src/cli/compile_all.ts";
import { selfCommand } from "../src/cli/self.ts";
import { serveArgs } from "../bench/support/sipws.ts";

Deno.test("v8 flags: deno task start and compile pass them before main.ts", () => {
  for (const task of [denoJson.tasks.start, denoJson.tasks.compile]) {
    const words = task.split(" ");
    assert.ok(words.includes(V8_FLAGS_ARG), `${task} lacks ${V8_FLAGS_ARG}`);
    assert.ok(words.indexOf(V8_FLAGS_ARG) < words.indexOf("main.ts"));
  }
});

Deno.test("v8 flags: compile:all, the self re-run and the bench command line carry them", () => {
  assert.ok(compileArgs("x86_64-unknown-linux-gnu").includes(V8_FLAGS_ARG));
  const self = selfCommand(["-f"]).args;
  assert.ok(self.indexOf(V8_FLAGS_ARG) > 0 && self.indexOf(V8_FLAGS_ARG) < self.indexOf("-f"));
  assert.ok(serveArgs({ store: "x.db", udp: 5060 }).includes(V8_FLAGS_ARG));
  // A bench that sets its own V8 flags (an A/B of the flags) gets only those.
  const own = serveArgs({ store: "x.db", udp: 5060, denoFlags: ["--v8-flags=--foo"] });
  assert.ok(!own.includes(V8_FLAGS_ARG) && own.includes("--v8-flags=--foo"));
});

Deno.test("lazy dynamic imports: every deno run of the server, never deno compile", () => {
  const start = denoJson.tasks.start.split(" ");
  assert.ok(start.indexOf(LAZY_IMPORTS_FLAG) > 0);
  assert.ok(start.indexOf(LAZY_IMPORTS_FLAG) < start.indexOf("main.ts"));
  const self = selfCommand(["-f"]).args;
  assert.ok(
    self.indexOf(LAZY_IMPORTS_FLAG) > 0 && self.indexOf(LAZY_IMPORTS_FLAG) < self.indexOf("-f"),
  );
  assert.ok(serveArgs({ store: "x.db", udp: 5060 }).includes(LAZY_IMPORTS_FLAG));
  // A compiled binary's module graph would lack what only a dynamic import names.
  assert.ok(!denoJson.tasks.compile.split(" ").includes(LAZY_IMPORTS_FLAG));
  assert.ok(!compileArgs("x86_64-unknown-linux-gnu").includes(LAZY_IMPORTS_FLAG));
  assert.ok(!JSON.stringify(denoJson.unstable).includes("lazy-dynamic-imports"));
});
