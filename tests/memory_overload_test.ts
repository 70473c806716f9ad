/**
 * Shedding by memory (src/server/memory_guard.ts): a real server (in this process, UDP and TCP)
 * whose budget (`sip.overload_memory_mb`) is set 192 MiB above this process's RSS. Then what
 * the budget leaves, and 64 MiB more, is malloc'ed and touched through libc, so the process's
 * RSS is past the budget: a new
 * REGISTER, over UDP and over TCP, gets 503 with Retry-After (the receive queue is empty and
 * the event loop on time: only the memory signal sheds it), while the second leg of a digest
 * exchange started before (it carries credentials) still completes with 200. Once the memory
 * is freed, new REGISTERs are challenged again and complete. Not timed.
 */
import assert from "node:assert/strict";
import { until } from "./support/poll.ts";
import { answerChallenge, register, registerRequest, TestSipClient } from "./support/sip_client.ts";
import { startTestServer } from "./support/test_server.ts";
import { readRss } from "../src/server/memory_guard.ts";

const MB = 1024 * 1024;
const DOMAIN = "example.test";
const ALICE = { user: "alice", domain: DOMAIN, password: "alice-secret" };

/** `bytes` malloc'ed and written (resident) through libc; the function frees them. */
function residentBlock(bytes: number): () => void {
  const libc = Deno.dlopen("libc.so.6", {
    malloc: { parameters: ["usize"], result: "pointer" },
    memset: { parameters: ["pointer", "i32", "usize"], result: "pointer" },
    free: { parameters: ["pointer"], result: "void" },
  });
  const block = libc.symbols.malloc(BigInt(bytes));
  assert.ok(block, "malloc");
  libc.symbols.memset(block, 1, BigInt(bytes));
  return () => {
    libc.symbols.free(block);
    libc.close();
  };
}

Deno.test({
  name:
    "memory overload: past the budget new REGISTERs get 503 + Retry-After, started ones finish, then it recovers",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const wantMb = Math.ceil(readRss() / MB) + 192;
    let budgetMb = wantMb;
    await using t = await startTestServer({
      transports: ["udp", "tcp"],
      workers: 1,
      configure: (c) => {
        // The setting is per worker (the server's budget is it times the count), and
        // SIPWS_TEST_WORKERS=N runs this server with N.
        c.sip.overloadMemoryMb = Math.ceil(wantMb / c.workers);
        budgetMb = c.sip.overloadMemoryMb * c.workers;
        c.abuse.enabled = false;
      },
    });
    await t.server.store.putDomain({ domain: DOMAIN }, [ALICE]);
    const udp = await TestSipClient.connect("udp", t.port("udp"));
    const tcp = await TestSipClient.connect("tcp", t.port("tcp"));
    // The RSS is the process's: test files run beside this one in it (deno test --parallel)
    // and one that ends gives its memory back, so the excess is topped up before each try.
    const blocks: (() => void)[] = [];
    const pastBudget = () => {
      const short = budgetMb * MB + 64 * MB - readRss();
      if (short > 0) blocks.push(residentBlock(short));
    };
    const free = () => blocks.splice(0).forEach((release) => release());
    try {
      assert.equal((await register(udp, ALICE)).status, 200, "under the budget: served");

      // A digest exchange started under the budget: challenged now, answered once past it.
      const callId = "reg-started-" + crypto.randomUUID();
      await udp.send(registerRequest(udp, { ...ALICE, callId }, 1));
      const challenge = await udp.response(callId, 1);
      assert.equal(challenge.status, 401);

      const refused = await until("a new REGISTER refused by memory", async () => {
        pastBudget();
        const answer = await register(udp, ALICE);
        return answer.status === 503 ? answer : undefined;
      }, 10_000);
      assert.match(refused.get("retry-after") ?? "", /^\d+$/);
      // Each thread's guard reads the RSS on its own (every 250 ms): with 2 workers the TCP
      // connection's thread may see the excess a read later than the UDP socket's.
      const overTcp = await until("a new REGISTER over TCP refused by memory", async () => {
        pastBudget();
        const answer = await register(tcp, ALICE);
        return answer.status === 503 ? answer : undefined;
      }, 10_000);
      assert.match(overTcp.get("retry-after") ?? "", /^\d+$/);

      const auth = answerChallenge(challenge, {
        user: ALICE.user,
        password: ALICE.password,
        method: "REGISTER",
        uri: `sip:${DOMAIN}`,
      });
      await udp.send(registerRequest(udp, { ...ALICE, callId }, 2, auth));
      assert.equal((await udp.response(callId, 2)).status, 200, "a started exchange finishes");

      free();
      await until("REGISTER served again once the memory is freed", async () => {
        const answer = await register(udp, ALICE);
        return answer.status === 200 ? true : undefined;
      }, 10_000);
      await until(
        "REGISTER over TCP served again (its thread's guard reads on its own)",
        async () => {
          const answer = await register(tcp, ALICE);
          return answer.status === 200 ? true : undefined;
        },
        10_000,
      );
    } finally {
      free();
      udp.close();
      tcp.close();
    }
  },
});
