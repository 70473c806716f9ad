/**
 * @module One server's call-bench rig: the server (call_servers.ts), a sipp UAS registered
 * as bob at it, and sipp UAC runs through it, with the counters the bench reads from
 * their statistics. Every run is bounded in time. Not part of the product.
 */
import { mb } from "./proc.ts";
import {
  BOB,
  type CallServerName,
  type ServerUnderTest,
  startKamailio,
  startSipws,
  udpDrops,
} from "./call_servers.ts";
import { readRows, type StatRow } from "./sipp_stats.ts";
import { freePorts, waitForListening } from "../../tests/support/ports.ts";
import { type SippRun, startSipp } from "../../tests/support/sipp.ts";
import { register, TestSipClient } from "../../tests/support/sip_client.ts";

const SCENARIOS = new URL("../scenarios/", import.meta.url).pathname;

export interface Rig {
  server: ServerUnderTest;
  /** How the UAC and the UAS talk to the server. */
  transport: "udp" | "tcp";
  uas: SippRun;
  uasPort: number;
  uasCsv: string;
  idleRssMb: number;
  /** UAS cumulative counters at the last look. */
  uasSeen: UasCounters;
}

/** bob's REGISTER over UDP; over TCP its Contact says so and the server connects to it. */
async function registerBob(port: number, uasPort: number, transport: Rig["transport"]) {
  const client = await TestSipClient.connect("udp", port);
  try {
    const ok = await Promise.race([
      register(client, {
        ...BOB,
        expires: 3600,
        contact: `sip:bob@127.0.0.1:${uasPort}${transport === "tcp" ? ";transport=tcp" : ""}`,
      }),
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error("REGISTER timed out")), 5000)
      ),
    ]);
    if (ok.status !== 200) throw new Error(`REGISTER of bob → ${ok.status}`);
  } finally {
    client.close();
  }
}

export async function startRig(
  name: CallServerName,
  transport: Rig["transport"] = "udp",
): Promise<Rig> {
  const dir = await Deno.makeTempDir({ prefix: `sipws-callbench-${name}-` });
  let server: ServerUnderTest | undefined;
  try {
    server = name === "sipws" ? await startSipws(dir) : await startKamailio(dir);
    return await rigAround(server, dir, transport);
  } catch (e) {
    await server?.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
}

/** The rig around a server already listening: a sipp UAS in `dir`, registered as bob. */
export async function rigAround(
  server: ServerUnderTest,
  dir: string,
  transport: Rig["transport"],
): Promise<Rig> {
  const idleRssMb = mb(server.memoryKb());
  const [uasPort] = freePorts(1);
  const uasCsv = `${dir}/uas.csv`;
  const t = transport === "tcp" ? "t1" : "u1";
  const uas = await startSipp({
    scenarioFile: `${SCENARIOS}uas_load.xml`,
    args: ["-p", String(uasPort), "-t", t, "-trace_stat", "-stf", uasCsv, "-fd", "1"],
    // Runs for the whole bench; stopped explicitly.
    timeoutMs: 600_000,
  });
  await waitForListening(uasPort, transport, 10_000);
  await registerBob(server.port, uasPort, transport);
  return {
    server,
    transport,
    uas,
    uasPort,
    uasCsv,
    idleRssMb,
    uasSeen: { retransmissions: 0, failed: 0, causes: {} },
  };
}

export async function stopRig(rig: Rig): Promise<void> {
  await rig.uas.stop();
  await rig.server.stop();
  await Deno.remove(rig.server.dir, { recursive: true }).catch(() => {});
}

/** UAS retransmissions and failures since the last call (its CSV lags up to 1 s). */
export async function uasDelta(rig: Rig): Promise<UasCounters> {
  const last = (await readRows(rig.uasCsv)).at(-1);
  if (!last) return { retransmissions: 0, failed: 0, causes: {} };
  const delta = {
    retransmissions: last.retransmissions - rig.uasSeen.retransmissions,
    failed: last.failed - rig.uasSeen.failed,
    causes: causesDelta(last.causes, rig.uasSeen.causes),
  };
  rig.uasSeen = {
    retransmissions: last.retransmissions,
    failed: last.failed,
    causes: last.causes,
  };
  return delta;
}

export interface UasCounters {
  retransmissions: number;
  failed: number;
  causes: Record<string, number>;
}

function causesDelta(now: Record<string, number>, before: Record<string, number>) {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(now)) {
    if (v - (before[k] ?? 0) > 0) out[k] = v - (before[k] ?? 0);
  }
  return out;
}

export const describeCauses = (c: Record<string, number>) =>
  Object.entries(c).map(([k, v]) => `${k} ${v}`).join(", ");

/** The first sipp error event that is not routine under load (late or stray messages). */
export function firstSignificantEvent(errors: string): string | undefined {
  const events = errors.split(/\n(?=\d{4}-\d\d-\d\d\t)/).slice(1);
  const event = events.find((e) =>
    !/Dead call|Continuing call on unexpected|Discarding message/.test(e)
  );
  return event?.split("\n").slice(0, 3).join(" | ").slice(0, 300);
}

export interface UacRun {
  /** Kernel drops on the UAC's socket (highest seen while it ran). */
  drops: number;
  rows: StatRow[];
  started: number;
  code: number;
  timedOut: boolean;
  errors: string;
}

/**
 * One sipp UAC run: `calls` calls at `rate`/s, each held `holdMs`, bounded by sipp's own
 * -timeout; `onRow` sees each periodic statistics row while it runs.
 */
export async function runUac(
  rig: Rig,
  o: { rate: number; calls: number; holdMs: number; onRow?: (r: StatRow) => Promise<void> },
): Promise<UacRun> {
  const csv = `${rig.server.dir}/uac-${crypto.randomUUID().slice(0, 8)}.csv`;
  const [uacPort] = freePorts(1);
  const limit = Math.max(100, Math.ceil(o.rate * (o.holdMs / 1000 + 2) * 1.5));
  const boundMs = (o.calls / o.rate) * 1000 + o.holdMs + 6_000;
  const started = Date.now() / 1000;
  const run = await startSipp({
    scenarioFile: `${SCENARIOS}uac_load.xml`,
    args: [
      `127.0.0.1:${rig.server.port}`,
      "-p",
      String(uacPort),
      "-t",
      rig.transport === "tcp" ? "t1" : "u1",
      "-s",
      BOB.user,
      "-r",
      String(o.rate),
      "-rp",
      "1000",
      "-l",
      String(limit),
      "-d",
      String(o.holdMs),
      // A 180 overtaken by its 200 (multi-worker proxies) is dropped, not a failure.
      "-default_behaviors",
      "all,-abortunexp",
      "-trace_stat",
      "-stf",
      csv,
      "-fd",
      "1",
    ],
    calls: o.calls,
    timeoutMs: boundMs,
  });
  let seen = 0;
  let drops = 0;
  const poll = async () => {
    drops = Math.max(drops, udpDrops(uacPort));
    if (!o.onRow) return;
    const rows = await readRows(csv);
    for (; seen < rows.length; seen++) await o.onRow(rows[seen]);
  };
  const poller = (async () => {
    while (!run.child.exited) {
      await new Promise((r) => setTimeout(r, 250));
      await poll();
    }
  })();
  const result = await run.result();
  await poller;
  const rows = await readRows(csv);
  await Deno.remove(csv).catch(() => {});
  return {
    drops,
    rows,
    started,
    code: result.code,
    timedOut: result.timedOut,
    errors: result.errors.slice(0, 200_000),
  };
}
