/**
 * @module The two registrars the REGISTER benches compare, started as real processes on one
 * free port for UDP and TCP with the same account: sipws (`deno run main.ts`, sqlite store,
 * loopback trusted by `[abuse]`) and Kamailio (bench/kamailio/kamailio.cfg.tmpl: 2 UDP + 2
 * TCP workers, in-memory location). Each reports its CPU ticks and memory the same way the
 * call bench does: sipws VmRSS, Kamailio PSS summed over its processes (shared memory once).
 */
import { groupTicks, statusKb } from "./proc.ts";
import { KAMAILIO, pssKb, spawnKamailio } from "./call_servers.ts";
import { loadConfig, seededStore, serveArgs } from "./sipws.ts";
import type { AccountInput } from "../../src/store/account.ts";
import { type ChildProcess, spawnChild } from "../../tests/support/process.ts";
import { freePorts, waitForListening } from "../../tests/support/ports.ts";
import { BENCH_ACCOUNT } from "./register_texts.ts";

export { BENCH_ACCOUNT, KAMAILIO };
const ROOT = new URL("../../", import.meta.url).pathname;

export interface Registrar {
  name: "sipws" | "kamailio";
  child: ChildProcess;
  /** UDP and TCP SIP port. */
  port: number;
  dir: string;
  /** utime + stime of every process of the server, clock ticks. */
  ticks(): number;
  /** Memory in kB: sipws VmRSS; Kamailio PSS summed over its processes. */
  memoryKb(): number;
  stop(): Promise<void>;
}

async function started(
  name: Registrar["name"],
  child: ChildProcess,
  port: number,
  dir: string,
  memoryKb: () => number,
): Promise<Registrar> {
  const stop = async () => {
    await child.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    await waitForListening(port, "udp", 20_000);
    await waitForListening(port, "tcp", 20_000);
  } catch (e) {
    await stop();
    throw new Error(`${name} did not start: ${e}\n${child.stderr.slice(-2000)}`);
  }
  return { name, child, port, dir, ticks: () => groupTicks(child.pid), memoryKb, stop };
}

/**
 * sipws as a user runs it, with `accounts` (default: the bench account) in its sqlite store
 * and `toml` (sipws.toml text) ahead of the bench config.
 */
export async function startSipwsRegistrar(
  accounts: AccountInput[] = [BENCH_ACCOUNT],
  toml = "",
): Promise<Registrar> {
  const dir = await Deno.makeTempDir({ prefix: "sipws-bench-" });
  const store = await seededStore(dir, accounts);
  const [port] = freePorts(1);
  // Extra `deno run` flags for a profile of the server under load, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p".
  const denoFlags = Deno.env.get("SIPWS_BENCH_DENO_FLAGS")?.split(" ").filter(Boolean);
  const child = spawnChild(Deno.execPath(), {
    args: serveArgs({
      store,
      config: loadConfig(dir, ROOT, toml),
      udp: port,
      tcp: port,
      denoFlags,
    }),
    cwd: ROOT,
  });
  return await started("sipws", child, port, dir, () => statusKb(child.pid, "VmRSS"));
}

/**
 * Kamailio from a bench/kamailio template (default: the registrar's; the call ladder's is
 * kamailio_proxy.cfg.tmpl): the bench account's password, 2 UDP workers + 2 TCP workers, and
 * 1 GiB of shared memory: with 256 MiB the call ladder ran Kamailio out of shared memory at
 * 1,600 calls/s (achieved 733/s at 26 % CPU), a limit of the configuration, not of Kamailio.
 * PSS counts only the pages it touches, so the REGISTER figures do not grow with it.
 */
export async function startKamailioRegistrar(
  template = "kamailio.cfg.tmpl",
): Promise<Registrar> {
  const dir = await Deno.makeTempDir({ prefix: "kamailio-bench-" });
  const [port] = freePorts(1);
  const child = await spawnKamailio(dir, template, port, BENCH_ACCOUNT, 1024);
  const server = await started("kamailio", child, port, dir, () => pssKb(child.pid));
  await new Promise((r) => setTimeout(r, 300)); // let the workers finish forking
  return server;
}
