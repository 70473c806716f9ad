/**
 * Connection churn must not jam the stream listeners. 2,000 connect/close
 * cycles (every second one closed with RST, SO_LINGER 0) on the TCP, TLS and WSS ports,
 * each followed at once by a REGISTER on that port that must be answered. A peer that
 * resets before it is accepted makes Deno's accept fail (ENOTCONN); the listener used to
 * pause 100 ms after each such error, so the listen queue filled and connects waited for
 * SYN retransmits. The bounds here are generous (a shared box); the targets (under 5 s
 * per 2,000, REGISTER under 100 ms) are measured by bench/churn_bench.ts.
 */
import assert from "node:assert/strict";
import { startTestServer } from "./support/test_server.ts";
import { register, TestSipClient } from "./support/sip_client.ts";
import { churn } from "./support/churn.ts";

const ACCOUNT = { user: "alice", domain: "example.test", password: "alice-secret-1" };
const CYCLES = 2000;
/** A generous bound: the fixed listener takes about a second here; the jammed one > 60 s. */
const CHURN_BOUND_MS = 20_000;

Deno.test("churn (half RST) on tcp, tls and wss, then a REGISTER is answered at once", async () => {
  await using ts = await startTestServer({
    transports: ["udp", "tcp", "tls", "wss"],
    accounts: [ACCOUNT],
    // 2,000 connections a second from one address is this test's load: without trust the
    // per-source cap (100) refuses churn connections whose close the server has not read yet.
    configure: (c) => c.abuse.trusted = ["127.0.0.1/32"],
  });
  for (const transport of ["tcp", "tls", "wss"] as const) {
    const result = await churn(ts.port(transport), CYCLES, CHURN_BOUND_MS);
    assert.equal(result.cycles, CYCLES, `${transport}: churn not done in ${CHURN_BOUND_MS} ms`);
    assert.equal(result.failures, 0, `${transport}: connects failed`);
    const started = performance.now();
    const client = await TestSipClient.connect(transport, ts.port(transport));
    try {
      const response = await register(client, { ...ACCOUNT, expires: 60 });
      assert.equal(response.status, 200, `${transport}: REGISTER after churn`);
    } finally {
      client.close();
    }
    const ms = performance.now() - started;
    assert.ok(ms < 3000, `${transport}: REGISTER after churn took ${Math.round(ms)} ms`);
  }
});
