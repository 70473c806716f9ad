/**
 * @module Open-loop call ladder (the open-loop protocol of bench/open_loop.ts): calls
 * INVITE → 407 → ACK → INVITE with Proxy-Authorization → 100/180/200 → ACK → BYE → 200
 * (bench/scenarios/uac_auth_call.xml)
 * from a sipp UAC as `bench@example.test` through the server to a sipp UAS
 * (bench/scenarios/uas_load.xml) bound as `bob@example.test`, over UDP and then TCP, sipws
 * and Kamailio (bench/kamailio/kamailio_proxy.cfg.tmpl: 2 UDP + 2 TCP workers, proxy digest
 * for callers of its domain, dialog module) side by side. Per transport, bob is REGISTERed
 * from a short-lived sipp (`-m 1`, register_digest.xml) on the port the UAS then listens
 * on: over TCP that connection is gone when the calls come, so the proxy reaches the
 * Contact anew (sipws's `sip.tcp_bindings = "contact"`, the default). The ladder and its
 * pass rule are bench/open_loop.ts's (`runLadder` with a call `SippLoad`): fixed rate per
 * step (`-r R -m stepS·R`, TCP over two UAC connections), pass when failed + unfinished
 * calls < 0.1 %, ≥ 97 % of the rate achieved, p99 (first INVITE → 200) ≤ 200 ms; CPU µs
 * per call from /proc of the server's process group; peak memory (sipws VmRSS, Kamailio
 * PSS). Every sipp run is bounded. Not part of the product; `bench/run.ts` drives it;
 * alone: `deno run -A bench/call_ladder.ts [--call-ladder-rates=200,400] [--step-s=6]
 * [--no-kamailio] [--write]` (`--write` replaces only its own section of bench/RESULTS.md).
 */
import {
  formatLadders,
  formatStep,
  type LadderResult,
  runLadder,
  runLoad,
  type SippLoad,
  type Transport,
} from "./support/sipp_ladder.ts";
import {
  BENCH_ACCOUNT,
  KAMAILIO,
  type Registrar,
  startKamailioRegistrar,
  startSipwsRegistrar,
} from "./support/registrars.ts";
import { freePorts, waitForListening } from "../tests/support/ports.ts";
import { describeSipp, runSipp, type SippRun, startSipp } from "../tests/support/sipp.ts";
import { arg } from "./support/args.ts";
import { resultsSection } from "./support/results_section.ts";

const SCENARIOS = new URL("./scenarios/", import.meta.url).pathname;
/** The callee; Kamailio's script checks every account against one password. */
const CALLEE = { user: "bob", domain: BENCH_ACCOUNT.domain, password: BENCH_ACCOUNT.password };

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
  completed: (s) => s.successful,
};

/** REGISTERs bob at `server` from `port` over `transport` (one sipp call, then it exits). */
async function registerCallee(server: Registrar, port: number, transport: Transport) {
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
async function startCallee(server: Registrar, transport: Transport): Promise<SippRun> {
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

export interface CallLadderOptions {
  kamailio: boolean;
  rates: number[];
  stepS: number;
  log?: (line: string) => void;
}

export interface CallLadderResult {
  settings: Omit<CallLadderOptions, "log" | "kamailio">;
  kamailioSkipped?: string;
  ladders: LadderResult[];
}

/**
 * Fresh sipws (with bench and bob) and Kamailio; per transport, bob's UAS for each server,
 * a 2 s warm-up at the lowest rate (not judged), then the ladder, servers alternating.
 */
export async function runCallLadder(o: CallLadderOptions): Promise<CallLadderResult> {
  const servers: Registrar[] = [];
  let kamailioSkipped: string | undefined;
  try {
    servers.push(await startSipwsRegistrar([BENCH_ACCOUNT, CALLEE]));
    if (!o.kamailio) kamailioSkipped = "--no-kamailio";
    else {
      try {
        await Deno.stat(KAMAILIO);
        servers.push(await startKamailioRegistrar("kamailio_proxy.cfg.tmpl"));
      } catch (e) {
        kamailioSkipped = e instanceof Deno.errors.NotFound ? `${KAMAILIO} not installed` : `${e}`;
      }
    }
    const ladders: LadderResult[] = [];
    for (const transport of ["udp", "tcp"] as const) {
      const callees: SippRun[] = [];
      try {
        for (const s of servers) callees.push(await startCallee(s, transport));
        for (const s of servers) {
          const warm = await runLoad(s, {
            transport,
            load: CALL_LOAD,
            rate: o.rates[0],
            durationS: 2,
          });
          o.log?.(`call warm-up ${formatStep(warm)}`);
        }
        ladders.push(
          await runLadder(servers, {
            transport,
            load: CALL_LOAD,
            rates: o.rates,
            stepS: o.stepS,
            log: o.log,
          }),
        );
      } finally {
        for (const c of callees) await c.stop();
      }
    }
    const { log: _log, kamailio: _k, ...settings } = o;
    return { settings, kamailioSkipped, ladders };
  } finally {
    for (const s of servers) await s.stop();
  }
}

/** Table lines for the report. */
export function formatCallLadder(r: CallLadderResult): string[] {
  const lines = [
    `open-loop calls INVITE → 407 → ACK → INVITE (digest) → 200 → ACK → BYE → 200 (sipp, ` +
    `${r.settings.stepS} s per step, pass: fail+unfinished < 0.1 %, achieved ≥ 97 %, ` +
    `p99 INVITE → 200 ≤ 200 ms)`,
  ];
  for (const l of r.ladders) for (const s of l.steps) lines.push("  " + formatStep(s));
  lines.push(...formatLadders(r.ladders));
  if (r.kamailioSkipped) lines.push(`kamailio: skipped (${r.kamailioSkipped})`);
  return lines;
}

export const CALL_LADDER_HEADING = "## Open-loop call ladder";

/** The call ladder's section of bench/RESULTS.md. */
export function callLadderMarkdown(table: string[]): string {
  return resultsSection(CALL_LADDER_HEADING + ": authenticated calls, UDP and TCP", [
    "Fresh sipws and Kamailio processes (bench/call_ladder.ts; Kamailio from",
    "bench/kamailio/kamailio_proxy.cfg.tmpl, 2 UDP + 2 TCP workers; sipws single-threaded by",
    "default). Per transport, bob is REGISTERed from a short-lived sipp (`-m 1`) on the port",
    "its sipp UAS (bench/scenarios/uas_load.xml) then listens on; a sipp UAC",
    "(bench/scenarios/uac_auth_call.xml) calls as bench@example.test: INVITE → 407 → ACK →",
    "INVITE with Proxy-Authorization → 100/180/200 → ACK → BYE → 200, no hold. Each step offers",
    "a fixed rate (`-r R -m stepS·R`; over TCP two UAC instances, two connections), servers",
    "alternating; it passes when failed + unfinished calls are under 0.1 %, the achieved rate",
    "is ≥ 97 % of the offered one and p99 (first INVITE → 200) ≤ 200 ms; a failed step is",
    "tried once more. `µs/call` is the server's CPU time over the step (its process group,",
    "from /proc) per completed call, `mem` sipws's VmRSS or Kamailio's PSS summed over its",
    "processes, peak over the step. `+` after a limit: the ladder's top passed. The box is",
    "shared: compare CPU µs per call, not rates.",
  ], table);
}

/**
 * Replaces the call ladder's section of bench/RESULTS.md (or puts it after the REGISTER open
 * loop's, where `deno task bench --write` writes it), keeping the rest.
 */
async function writeSection(markdown: string): Promise<void> {
  const url = new URL("./RESULTS.md", import.meta.url);
  const sections = (await Deno.readTextFile(url)).split(/\n(?=## )/);
  const at = sections.findIndex((s) => s.startsWith(CALL_LADDER_HEADING));
  const section = markdown.trim();
  if (at >= 0) sections[at] = section;
  else {
    const openLoop = sections.findIndex((s) => s.startsWith("## Open loop"));
    sections.splice(openLoop < 0 ? sections.length : openLoop + 1, 0, section);
  }
  await Deno.writeTextFile(url, sections.map((s) => s.trimEnd()).join("\n\n") + "\n");
}

if (import.meta.main) {
  const result = await runCallLadder({
    kamailio: !Deno.args.includes("--no-kamailio"),
    rates: (arg("call-ladder-rates") ?? "200,400,800,1200,1600").split(",").map(Number),
    stepS: Number(arg("step-s") ?? 6),
    log: (line) => console.error(line),
  });
  const lines = formatCallLadder(result);
  console.log(lines.join("\n"));
  console.log(JSON.stringify(result));
  if (Deno.args.includes("--write")) {
    await writeSection(callLadderMarkdown(lines));
    console.log("wrote bench/RESULTS.md");
  }
}
