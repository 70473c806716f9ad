/**
 * @module The servers the call bench drives: sipws (seeded store, HTTP API for its
 * `sipws_dialogs` gauge) and Kamailio (bench/kamailio template), each on a free port for
 * UDP and TCP,
 * with what the bench reads from the kernel about them (UDP drops, receive buffer, memory).
 * Not part of the product.
 */
import { groupPids, kbField, statusKb } from "./proc.ts";
import { loadConfig, seededStore, serveArgs } from "./sipws.ts";
import { type ChildProcess, spawnChild } from "../../tests/support/process.ts";
import { freePorts, waitForListening } from "../../tests/support/ports.ts";

export type CallServerName = "sipws" | "kamailio";

export const KAMAILIO = "/usr/sbin/kamailio";
const ROOT = new URL("../../", import.meta.url).pathname;
/** The callee every server has an account for; the sipp UAS registers as it. */
export const BOB = { user: "bob", domain: "example.test", password: "bench-bob-secret" };
const API_KEY = "call-bench-key";

export function udpDrops(port: number): number {
  let drops = 0;
  try {
    const hex = port.toString(16).toUpperCase().padStart(4, "0");
    for (const line of Deno.readTextFileSync("/proc/net/udp").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 12 && f[1].endsWith(`:${hex}`)) drops += Number(f[f.length - 1]);
    }
  } catch { /* no procfs */ }
  return drops;
}

export interface ServerUnderTest {
  name: CallServerName;
  child: ChildProcess;
  port: number;
  dir: string;
  /** sipws only. */
  httpPort?: number;
  /** Memory in kB: sipws VmRSS; Kamailio PSS summed over its processes. */
  memoryKb(): number;
  stop(): Promise<void>;
}

/** PSS summed over the process group led by `pid` (shared memory counted once), kB. */
export function pssKb(pid: number): number {
  return groupPids(pid).reduce((sum, p) => sum + kbField(`/proc/${p}/smaps_rollup`, "Pss"), 0);
}

/** sipws with bob's account, UDP and TCP on one port, and the HTTP API. */
export async function startSipws(dir: string): Promise<ServerUnderTest> {
  const store = await seededStore(dir, [BOB]);
  const [port, httpPort] = freePorts(2);
  const child = spawnChild(Deno.execPath(), {
    args: serveArgs({
      store,
      config: loadConfig(dir, ROOT),
      udp: port,
      tcp: port,
      http: { port: httpPort, key: API_KEY },
    }),
    cwd: ROOT,
  });
  try {
    await waitForListening(port, "udp", 20_000);
    await waitForListening(port, "tcp", 20_000);
    await waitForListening(httpPort, "tcp", 20_000);
  } catch (e) {
    await child.stop();
    throw new Error(`sipws did not start: ${e}\n${child.stderr.slice(-2000)}`);
  }
  return {
    name: "sipws",
    child,
    port,
    dir,
    httpPort,
    memoryKb: () => statusKb(child.pid, "VmRSS"),
    stop: async () => void await child.stop(),
  };
}

/**
 * Kamailio in the foreground from a bench/kamailio template, written to `dir`/kamailio.cfg
 * with `port` (UDP and TCP), a fresh secret and `account`, with `memoryMb` of shared memory.
 */
export async function spawnKamailio(
  dir: string,
  template: string,
  port: number,
  account: { user: string; domain: string; password: string },
  memoryMb: number,
): Promise<ChildProcess> {
  const text = await Deno.readTextFile(new URL(`../kamailio/${template}`, import.meta.url));
  const cfg = text
    .replaceAll("@UDP_PORT@", String(port))
    .replaceAll("@TCP_PORT@", String(port))
    .replaceAll("@SECRET@", crypto.randomUUID())
    .replaceAll("@USER@", account.user)
    .replaceAll("@DOMAIN@", account.domain)
    .replaceAll("@PASSWORD@", account.password);
  await Deno.writeTextFile(`${dir}/kamailio.cfg`, cfg);
  return spawnChild(KAMAILIO, {
    args: ["-f", `${dir}/kamailio.cfg`, "-DD", "-E", "-Y", dir, "-w", dir, "-m", String(memoryMb)],
    cwd: dir,
  });
}

export async function startKamailio(dir: string): Promise<ServerUnderTest> {
  const [port] = freePorts(1);
  const child = await spawnKamailio(dir, "kamailio_proxy.cfg.tmpl", port, BOB, 512);
  try {
    await waitForListening(port, "udp", 20_000);
    await waitForListening(port, "tcp", 20_000);
  } catch (e) {
    await child.stop();
    throw new Error(`kamailio did not start: ${e}\n${child.stderr.slice(-2000)}`);
  }
  await new Promise((r) => setTimeout(r, 300)); // let the workers finish forking
  return {
    name: "kamailio",
    child,
    port,
    dir,
    memoryKb: () => pssKb(child.pid),
    stop: async () => void await child.stop(),
  };
}

/** The `sipws_dialogs` gauge from GET /metrics (bounded by a 2 s timeout). */
export async function sipwsDialogs(s: ServerUnderTest): Promise<number | undefined> {
  if (s.httpPort === undefined) return undefined;
  try {
    const res = await fetch(`http://127.0.0.1:${s.httpPort}/metrics`, {
      headers: { authorization: `Bearer ${API_KEY}` },
      signal: AbortSignal.timeout(2000),
    });
    const text = await res.text();
    const m = /^sipws_dialogs(?:\{[^}]*\})?\s+(\d+)/m.exec(text);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** SO_RCVBUF of the UDP socket bound to `port`, from `ss -uamn` (undefined without ss). */
export async function udpRcvBuf(port: number): Promise<number | undefined> {
  try {
    const out = await new Deno.Command("ss", { args: ["-uamn"], stdout: "piped" }).output();
    const text = new TextDecoder().decode(out.stdout);
    const m = new RegExp(`:${port}\\s[^\\n]*\\n\\s*skmem:\\([^)]*rb(\\d+)`).exec(text);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
