/**
 * @module The open-loop call load (bench/open_loop.ts): calls INVITE → 407 → ACK → INVITE
 * with Proxy-Authorization → 100/180/200 → ACK → BYE → 200
 * (bench/scenarios/uac_auth_call.xml) from a sipp UAC as `bench@example.test` through the
 * server to a sipp UAS (bench/scenarios/uas_load.xml) bound as `bob@example.test`. bob is
 * REGISTERed from a short-lived sipp (`-m 1`, register_digest.xml) on the port the UAS then
 * listens on: over TCP that connection is gone when the calls come, so the proxy reaches the
 * Contact anew (sipws's `sip.tcp_bindings = "contact"`, the default). Not part of the product.
 */
import type { SippLoad, Transport } from "./sipp_ladder.ts";
import { BENCH_ACCOUNT, type Registrar } from "./registrars.ts";
import { freePorts, waitForListening } from "../../tests/support/ports.ts";
import { describeSipp, runSipp, type SippRun, startSipp } from "../../tests/support/sipp.ts";

const SCENARIOS = new URL("../scenarios/", import.meta.url).pathname;
/** The callee; Kamailio's script checks every account against one password. */
export const CALLEE = {
  user: "bob",
  domain: BENCH_ACCOUNT.domain,
  password: BENCH_ACCOUNT.password,
};

/** One authenticated call per sipp "call", completed when the BYE's 200 came back. */
export const CALL_LOAD: SippLoad = {
  op: "call",
  title: "calls (407 + digest)",
  scenario: `${SCENARIOS}uac_auth_call.xml`,
  args: [
    "-s",
    CALLEE.user,
    "-key",
    "caller",
    BENCH_ACCOUNT.user,
    "-au",
    BENCH_ACCOUNT.user,
    "-ap",
    BENCH_ACCOUNT.password,
    // The digest uri is the Request-URI (sipp's default is the server's address).
    "-auth_uri",
    `${CALLEE.user}@${CALLEE.domain}`,
    // A 180 overtaken by its 200 (Kamailio's several workers) is dropped, not a failure.
    "-default_behaviors",
    "all,-abortunexp",
  ],
  // A 503'd call reaches the scenario's end too: not completed.
  completed: (s) => s.successful - (s.responses.get(503) ?? 0),
};

/**
 * REGISTERs bob at `server` from `port` over `transport` (one sipp call, then it exits),
 * after removing the bindings an earlier callee left: a stopped UDP callee's binding made
 * the proxy fork every call of the TCP ladder that followed to its dead port too (an
 * INVITE and then a CANCEL retransmitted for 32 s per call: the TCP ladder's memory and
 * CPU per call, docs/performance.md).
 */
async function registerCallee(server: Registrar, port: number, transport: Transport) {
  const cleared = await runSipp({
    scenarioFile: `${SCENARIOS}unregister_all.xml`,
    args: [
      `127.0.0.1:${server.port}`,
      ...["-s", CALLEE.user, "-au", CALLEE.user, "-ap", CALLEE.password],
      ...["-t", transport === "tcp" ? "t1" : "u1"],
    ],
    calls: 1,
    timeoutMs: 10_000,
  });
  if (cleared.stats?.successfulCalls !== 1) {
    throw new Error(
      `${server.name}: unREGISTER of bob over ${transport}: ${describeSipp(cleared)}`,
    );
  }
  const r = await runSipp({
    scenarioFile: `${SCENARIOS}register_digest.xml`,
    args: [
      `127.0.0.1:${server.port}`,
      ...["-s", CALLEE.user, "-au", CALLEE.user, "-ap", CALLEE.password],
      ...["-p", String(port), "-t", transport === "tcp" ? "t1" : "u1"],
    ],
    calls: 1,
    timeoutMs: 10_000,
  });
  if (r.stats?.successfulCalls !== 1) {
    throw new Error(`${server.name}: REGISTER of bob over ${transport}: ${describeSipp(r)}`);
  }
}

/** bob's UAS for `transport`, registered first from the port it then listens on. */
export async function startCallee(server: Registrar, transport: Transport): Promise<SippRun> {
  const [port] = freePorts(1);
  await registerCallee(server, port, transport);
  const uas = await startSipp({
    scenarioFile: `${SCENARIOS}uas_load.xml`,
    args: ["-p", String(port), "-t", transport === "tcp" ? "t1" : "u1", "-max_recv_loops", "10000"],
    // Runs for the transport's whole ladder; stopped explicitly.
    timeoutMs: 1_800_000,
  });
  await waitForListening(port, transport, 10_000);
  return uas;
}
