/**
 * @module The accept loop out of file descriptors (EMFILE): sipws runs as a child process
 * with RLIMIT_NOFILE lowered (`prlimit`), TCP connections are opened until it can accept no
 * more, and the listener must neither spin (it backs off between failed accepts) nor stop:
 * once connections close, the one waiting in the listen queue is accepted and answered, and
 * new ones are served. The same listener class serves TLS and WSS.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { spawnChild } from "./support/process.ts";
import { freePorts } from "./support/ports.ts";
import { until } from "./support/poll.ts";
import { optionsRequest, TestSipClient } from "./support/sip_client.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
/** Deno and sipws hold about 30 descriptors at rest: some 30 connections fit under it. */
const NOFILE = 64;

const descriptors = (pid: number) => [...Deno.readDirSync(`/proc/${pid}/fd`)].length;

/** CPU time (user + system) of `pid`, in clock ticks (1/100 s). */
function cpuTicks(pid: number): number {
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

Deno.test({
  name:
    "accept out of descriptors (EMFILE): the TCP listener backs off without spinning and serves again once some close",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "sipws_emfile_" });
    const [port] = freePorts(1);
    await using server = spawnChild("prlimit", {
      args: [
        `--nofile=${NOFILE}:${NOFILE}`,
        "--",
        Deno.execPath(),
        "run",
        "-A",
        MAIN,
        "-f",
        "-t",
        String(port),
        "-i",
        "127.0.0.1",
        "--skipconfig",
        "--store",
        join(dir, "a.db"),
        "-vvv",
      ],
      cwd: dir,
    });
    await server.waitForLine(/started: tcp/, 30_000);
    const conns: Deno.TcpConn[] = [];
    let queued: TestSipClient | undefined;
    try {
      // The kernel completes every handshake; the server accepts until it has no descriptor.
      for (let i = 0; i < NOFILE; i++) {
        conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
      }
      await until(
        "the server to run out of descriptors",
        () => descriptors(server.pid) >= NOFILE || undefined,
        10_000,
      );
      queued = await TestSipClient.connect("tcp", port);
      await queued.send(optionsRequest(queued, "queued"));
      await assert.rejects(queued.response("queued", 1, 500), "not accepted while out of fds");

      // Every accept fails now; the loop must wait between tries, not spin.
      const before = cpuTicks(server.pid);
      await new Promise((r) => setTimeout(r, 1000));
      const used = cpuTicks(server.pid) - before;
      assert.ok(used < 30, `${used} % of a core while accepts fail`);

      // Those accepted and those queued before it go: descriptors free, the queue drains.
      for (const c of conns.splice(0)) c.close();
      assert.equal((await queued.response("queued", 1, 5000)).status, 200, "accepted at last");
      const fresh = await TestSipClient.connect("tcp", port);
      try {
        await fresh.send(optionsRequest(fresh, "fresh"));
        assert.equal((await fresh.response("fresh", 1, 3000)).status, 200);
      } finally {
        fresh.close();
      }
      assert.equal(server.exited, false);
    } finally {
      queued?.close();
      for (const c of conns) c.close();
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
