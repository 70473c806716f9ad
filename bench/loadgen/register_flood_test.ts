/**
 * @module Tests of the bench's REGISTER generator (register_flood.c, compiled with `cc`):
 * its MD5 against RFC 1321's test suite, and real registrations against a real sipws over
 * UDP: with the account's password every registration is challenged once and ends in 200;
 * the same as a closed loop over 2 source ports; with a wrong password sipws answers 403 to
 * every digest, so the 200s prove the digest right. Over TCP the same at a fixed rate and as a
 * closed loop over 8 connections, every request on a stream framed by Content-Length.
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { floodBinary, runFlood } from "../support/register_flood.ts";
import { BENCH_ACCOUNT, startSipwsRegistrar } from "../support/registrars.ts";
import { RFC1321_SUITE } from "../../src/sip/fixtures_test.ts";

Deno.test("register_flood's MD5 gives RFC 1321's test suite values", async () => {
  const bin = await floodBinary();
  for (const [text, hex] of RFC1321_SUITE) {
    const out = await new Deno.Command(bin, { args: [`--md5=${text}`] }).output();
    assertEquals(new TextDecoder().decode(out.stdout).trim(), hex, `MD5("${text}")`);
  }
});

Deno.test("register_flood registers with digest against sipws, and a wrong password fails", async () => {
  const server = await startSipwsRegistrar();
  try {
    const ok = await runFlood(server.port, { rate: 200, seconds: 2, drainS: 5 });
    assertEquals(
      [ok.offered, ok.completed, ok.failed, ok.shed, ok.unfinished],
      [400, 400, 0, 0, 0],
    );
    assertEquals(ok.statuses, { "200": 400, "401": 400 });
    assertEquals(ok.datagramsSent, 800 + ok.retransmits);
    assertEquals(ok.completedInOffer > 0 && ok.completedInOffer <= ok.completed, true);

    // The closed loop over 2 source ports (workers_bench.ts): 20 open at a time, all answered.
    const closed = await runFlood(server.port, {
      rate: 100_000,
      seconds: 1,
      drainS: 5,
      concurrency: 20,
      sockets: 2,
    });
    assertEquals([closed.failed, closed.shed, closed.unfinished], [0, 0, 0]);
    assertEquals(closed.offered, closed.completed);
    assertEquals(closed.offered > 20, true, `only ${closed.offered} started in 1 s`);

    const wrong = await runFlood(server.port, {
      rate: 50,
      seconds: 1,
      drainS: 5,
      account: { ...BENCH_ACCOUNT, password: "not-the-password" },
    });
    assertEquals([wrong.completed, wrong.failed, wrong.unfinished], [0, 50, 0]);
    assertEquals(wrong.statuses, { "401": 50, "403": 50 });
  } finally {
    await server.stop();
  }
});

Deno.test("register_flood registers over TCP connections, open and closed loop", async () => {
  // No 503s for an event loop late on a loaded machine (overload_lag_ms): this counts the
  // generator's registrations, not the server's shedding (stream_overload_test has that).
  const server = await startSipwsRegistrar(undefined, "[sip]\noverload_lag_ms = 0\n");
  try {
    const ok = await runFlood(server.port, {
      rate: 200,
      seconds: 2,
      drainS: 5,
      transport: "tcp",
      sockets: 4,
    });
    assertEquals(
      [ok.transport, ok.offered, ok.completed, ok.failed, ok.shed, ok.unfinished],
      ["tcp", 400, 400, 0, 0, 0],
    );
    assertEquals(ok.statuses, { "200": 400, "401": 400 });
    // Nothing retransmitted over a reliable transport: two requests per registration.
    assertEquals([ok.datagramsSent, ok.retransmits, ok.connectionsLost, ok.stray], [800, 0, 0, 0]);

    // 8 connections each keeping 5 of the 40 in flight; answers read as they come, in bursts.
    const closed = await runFlood(server.port, {
      rate: 100_000,
      seconds: 1,
      drainS: 5,
      concurrency: 40,
      sockets: 8,
      transport: "tcp",
    });
    assertEquals([closed.failed, closed.shed, closed.unfinished, closed.connectionsLost], [
      0,
      0,
      0,
      0,
    ]);
    assertEquals(closed.offered, closed.completed);
    assertEquals(closed.datagramsSent, 2 * closed.completed);
    assertEquals(closed.offered > 40, true, `only ${closed.offered} started in 1 s`);

    const wrong = await runFlood(server.port, {
      rate: 50,
      seconds: 1,
      drainS: 5,
      transport: "tcp",
      sockets: 2,
      account: { ...BENCH_ACCOUNT, password: "not-the-password" },
    });
    assertEquals([wrong.completed, wrong.failed, wrong.unfinished], [0, 50, 0]);
    assertEquals(wrong.statuses, { "401": 50, "403": 50 });
  } finally {
    await server.stop();
  }
});
