/**
 * @module Crash test for both account stores: a child process (tests/support/store_writer.ts)
 * writes a bounded burst of changes and prints each acknowledgement; the test SIGKILLs it
 * at a random acknowledgement, reopens the file, and checks that it loads and holds
 * exactly the first `version()` ops of the plan, which include every acknowledged one.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { DatabaseSync } from "node:sqlite";
import { parseDatabaseFile } from "../src/store/sipws_request.ts";
import { CRASH_DOMAIN, openForCrash, planOps } from "./support/store_writer.ts";

const OPS = 2000;
const ITERATIONS = 3;
const ITERATION_TIMEOUT_MS = 30_000;
const writer = new URL("./support/store_writer.ts", import.meta.url).pathname;

interface Run {
  acked: Set<number>;
  killed: boolean;
}

/** Runs the writer, kills it after `killAfter` acks, returns every ack it printed. */
async function runWriter(kind: string, path: string, killAfter: number): Promise<Run> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", writer, kind, path, String(OPS)],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const acked = new Set<number>();
  let killRequested = false;
  let timedOut = false;
  let ready = false;
  let buffer = "";
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // It already exited: the burst finished before the kill point was read.
    }
  };
  const timer = setTimeout(() => {
    timedOut = true;
    kill();
  }, ITERATION_TIMEOUT_MS);
  const stderr = new Response(child.stderr).text();
  try {
    // Keep reading after the kill: acks already in the pipe were acknowledged too.
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      const lines = buffer.split("\n");
      buffer = lines.pop()!;
      for (const line of lines) {
        if (line === "ready") ready = true;
        const m = /^ack (\d+)$/.exec(line);
        if (m) acked.add(Number(m[1]));
      }
      if (!killRequested && acked.size >= killAfter) {
        killRequested = true;
        kill();
      }
    }
    const status = await child.status;
    const errors = await stderr;
    assert.ok(!timedOut, `writer still running after ${ITERATION_TIMEOUT_MS} ms`);
    assert.ok(ready, `writer never got ready: ${errors}`);
    const killed = status.signal === "SIGKILL";
    if (!killed) assert.equal(status.code, 0, `writer failed: ${errors}`);
    return { acked, killed };
  } finally {
    clearTimeout(timer);
  }
}

/** user → password after replaying the first `count` ops of the plan. */
function replay(count: number): Map<string, string> {
  const state = new Map<string, string>();
  for (const op of planOps(OPS).slice(0, count)) {
    if (op.op === "put") state.set(op.user, op.password);
    else state.delete(op.user);
  }
  return state;
}

function loadsRaw(kind: string, path: string): void {
  if (kind === "json") {
    parseDatabaseFile(JSON.parse(Deno.readTextFileSync(path)));
    return;
  }
  const db = new DatabaseSync(path);
  try {
    const row = db.prepare("PRAGMA integrity_check").get() as Record<string, unknown>;
    assert.equal(row.integrity_check, "ok");
  } finally {
    db.close();
  }
}

for (const kind of ["sqlite", "json"]) {
  Deno.test(`store crash [${kind}]: SIGKILL loses no acknowledged change`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "sipws_crash_" });
    try {
      for (let i = 0; i < ITERATIONS; i++) {
        const path = `${dir}/run${i}.${kind === "json" ? "json" : "db"}`;
        // Spread kill points: early, middle, late in the burst.
        const killAfter = 1 + Math.floor(Math.random() * (OPS * 0.9) * ((i + 1) / ITERATIONS));
        const { acked, killed } = await runWriter(kind, path, killAfter);
        const where = `iteration ${i}, kill after ${killAfter} acks, ${acked.size} acked`;
        assert.ok(acked.size > 0, where);

        loadsRaw(kind, path);
        const store = await openForCrash(kind, path);
        try {
          const version = store.version();
          const maxAck = Math.max(...acked);
          assert.ok(version >= maxAck + 1, `${where}: version ${version} < ack ${maxAck}`);
          assert.ok(version <= OPS, where);
          if (!killed) assert.equal(version, OPS, where);
          const expected = replay(version);
          const actual = new Map(
            store.listAccounts(CRASH_DOMAIN).map((a) => [a.user, a.password ?? ""]),
          );
          assert.deepEqual(actual, expected, `${where}: state is not the plan's prefix`);
          for (const account of store.listAccounts(CRASH_DOMAIN)) {
            const md5 = createHash("md5")
              .update(`${account.user}:${CRASH_DOMAIN}:${account.password}`)
              .digest("hex");
            assert.equal(account.ha1.md5, md5, `${where}: HA1 of ${account.user}`);
            assert.equal(account.cn, `cn ${account.password?.slice(1)}`, where);
          }
        } finally {
          store.close();
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
