/**
 * @module Connection churn benchmark: sipws as a subprocess with TCP, TLS and
 * WSS listeners; per port, N connect/close cycles as fast as one client goes, every second
 * one closed with RST (SO_LINGER 0, tests/support/churn.ts), then at once a REGISTER over
 * TCP on a new connection, timed to its answer (the 401 challenge). Targets: 2,000 cycles
 * in under 5 s per port, the REGISTER answered in under 100 ms. Run
 * `deno run -A bench/churn_bench.ts [--cycles=N]`; bench/run.ts imports `runChurnBench`.
 */
import { freePorts, waitForListening } from "../tests/support/ports.ts";
import { spawnChild } from "../tests/support/process.ts";
import { makeSelfSignedCert } from "../tests/support/certs.ts";
import { churn } from "../tests/support/churn.ts";
import { registerRequest, TestSipClient } from "../tests/support/sip_client.ts";
import { loadConfig, seededStore, serveArgs } from "./support/sipws.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const ACCOUNT = { user: "churn", domain: "example.test", password: "churn-secret-1" };
/** Each port's churn stops after this, so a jammed listener cannot hang the bench. */
const MAX_CHURN_MS = 60_000;

export interface ChurnPortResult {
  transport: "tcp" | "tls" | "wss";
  cycles: number;
  failures: number;
  elapsedMs: number;
  cyclesPerSec: number;
  maxConnectMs: number;
  /** Connect + REGISTER → first answer over TCP, right after this port's churn. */
  registerAfterMs: number;
}

export interface ChurnBenchResult {
  cyclesPerPort: number;
  ports: ChurnPortResult[];
}

/** Time from connecting to the first answer of a REGISTER over TCP. */
async function registerAnswerMs(port: number): Promise<number> {
  const t0 = performance.now();
  const client = await TestSipClient.connect("tcp", port);
  try {
    const callId = "churn-" + crypto.randomUUID();
    await client.send(registerRequest(client, { ...ACCOUNT, callId, expires: 60 }, 1));
    await client.response(callId, 1, 10_000);
    return Math.round((performance.now() - t0) * 10) / 10;
  } finally {
    client.close();
  }
}

export async function runChurnBench(cycles = 2000): Promise<ChurnBenchResult> {
  const dir = await Deno.makeTempDir({ prefix: "sipws-churn-" });
  const [udp, tcp, tls, wss] = freePorts(4);
  const cert = await makeSelfSignedCert(dir);
  const child = spawnChild(Deno.execPath(), {
    args: serveArgs({
      store: await seededStore(dir, [ACCOUNT]),
      config: loadConfig(dir, ROOT),
      udp,
      tcp,
      tls,
      wss,
      certificate: { cert: cert.certFile, key: cert.keyFile },
    }),
    cwd: ROOT,
  });
  const ports: ChurnPortResult[] = [];
  try {
    for (const p of [tcp, tls, wss]) await waitForListening(p, "tcp", 20_000);
    for (const [transport, port] of [["tcp", tcp], ["tls", tls], ["wss", wss]] as const) {
      const r = await churn(port, cycles, MAX_CHURN_MS);
      ports.push({
        transport,
        ...r,
        cyclesPerSec: Math.round(r.cycles / (r.elapsedMs / 1000)),
        registerAfterMs: await registerAnswerMs(tcp),
      });
    }
  } finally {
    await child.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  return { cyclesPerPort: cycles, ports };
}

export function formatChurnBench(r: ChurnBenchResult): string[] {
  return r.ports.map((p) =>
    `churn ${p.transport}: ${p.cycles}/${r.cyclesPerPort} cycles (half RST) in ${p.elapsedMs} ms ` +
    `(${p.cyclesPerSec}/s, slowest connect ${p.maxConnectMs} ms, ${p.failures} failed; ` +
    `target < 5000 ms); TCP REGISTER answered ${p.registerAfterMs} ms after (target < 100 ms)`
  );
}

if (import.meta.main) {
  const cycles = Number(
    Deno.args.find((a) => a.startsWith("--cycles="))?.slice("--cycles=".length) ?? 2000,
  );
  const result = await runChurnBench(cycles);
  console.log(formatChurnBench(result).join("\n"));
  console.log(JSON.stringify(result));
}
