/**
 * @module Tests of the bench's call generator (call_flood.c, compiled with `cc`) against a
 * real sipws over UDP: it REGISTERs the callee, places calls as the caller through the proxy
 * and answers them as the callee, each call INVITE -> 407 -> ACK -> INVITE with digest ->
 * 180/200 -> ACK -> BYE -> 200, open loop and closed loop over several source ports, and
 * removes the callee's binding at the end; with a wrong caller password sipws refuses every
 * authenticated INVITE (403) and no call reaches the callee, so the completed calls prove the
 * digest right. The wrong password runs last: sipws then locks the account at 127.0.0.1.
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { runCallFlood } from "../support/call_flood.ts";
import { BOB } from "../support/call_servers.ts";
import { BENCH_ACCOUNT, startSipwsRegistrar } from "../support/registrars.ts";

const callee = { user: BOB.user, password: BOB.password };

Deno.test("call_flood places authenticated calls through sipws, and a wrong password fails", async () => {
  const server = await startSipwsRegistrar([BENCH_ACCOUNT, BOB]);
  try {
    const open = await runCallFlood(server.port, {
      rate: 50,
      seconds: 1,
      drainS: 5,
      caller: BENCH_ACCOUNT,
      callee,
    });
    assertEquals(
      [open.offered, open.completed, open.failed, open.unfinished, open.uasInvites],
      [50, 50, 0, 0, 50],
    );
    // 407 to the first INVITE, 200 to the second and 200 to the BYE.
    assertEquals(open.statuses, { "200": 100, "407": 50 });
    assertEquals(open.unregister, 200);

    // The closed loop over 4 caller ports: 10 calls in flight for 1 s, every one completed.
    const closed = await runCallFlood(server.port, {
      rate: 100_000,
      seconds: 1,
      drainS: 5,
      concurrency: 10,
      sockets: 4,
      caller: BENCH_ACCOUNT,
      callee,
    });
    assertEquals([closed.failed, closed.shed, closed.unfinished], [0, 0, 0]);
    assertEquals(closed.offered, closed.completed);
    assertEquals(closed.uasInvites, closed.completed);
    assertEquals(closed.offered > 10, true, `only ${closed.offered} started in 1 s`);

    const wrong = await runCallFlood(server.port, {
      rate: 20,
      seconds: 1,
      drainS: 5,
      caller: { ...BENCH_ACCOUNT, password: "not-the-password" },
      callee,
    });
    assertEquals([wrong.completed, wrong.failed, wrong.unfinished, wrong.uasInvites], [
      0,
      20,
      0,
      0,
    ]);
    assertEquals(wrong.statuses, { "403": 20, "407": 20 });
  } finally {
    await server.stop();
  }
});
