/**
 * @module `sipws doctor`: what a new user runs when a browser will not register. It reads the
 * same sipws.toml and flags as the server (`--password` here is the test account's; the key
 * password stays `-w`), checks the configuration (doctor_checks.ts), then probes the running
 * server as a client would: every listener reachable on this machine, a WS/WSS handshake with
 * subprotocol `sip` (and an allowed Origin), an OPTIONS over each transport, and with `--user`
 * and `--password` a REGISTER (then its removal). One line per check, a fix for each failure;
 * `--json` for scripts. Exit 0 when nothing failed, 1 when a check failed, 2 for a bad config.
 */
import type { Command } from "commander";
import type { Config } from "../config/config.ts";
import { loadConfig } from "../config/load.ts";
import { isWildcard } from "../transport/address.ts";
import {
  allowedOrigin,
  certificateChecks,
  type CheckResult,
  originCheck,
  transportCheck,
} from "./doctor_checks.ts";
import { openLink, optionsRequest, register, type Transport } from "./doctor_sip.ts";
import { reportLoadError } from "./output.ts";

interface DoctorOptions {
  user?: string;
  password?: string;
  json: boolean;
}

const FLAGS_WITH_VALUE = new Set(["--user", "--password"]);

/** Splits the doctor's own flags from the server's (which go to loadConfig). */
export function splitDoctorArgs(args: string[]): { options: DoctorOptions; serverArgs: string[] } {
  const options: DoctorOptions = { json: false };
  const serverArgs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].startsWith("--") ? args[i].split(/=(.*)/s, 2) : [args[i]];
    if (flag === "--json") options.json = true;
    else if (FLAGS_WITH_VALUE.has(flag)) {
      const value = inline ?? args[++i];
      if (flag === "--user") options.user = value;
      else options.password = value;
    } else serverArgs.push(args[i]);
  }
  return { options, serverArgs };
}

/** Where to reach the server from this machine: its address, loopback for a wildcard. */
function probeHost(config: Config): string {
  return isWildcard(config.interface) ? "127.0.0.1" : config.interface;
}

const PORTS: { transport: Transport | "http"; key: keyof Config; flag: string }[] = [
  { transport: "udp", key: "udpPort", flag: "udp_port" },
  { transport: "tcp", key: "tcpPort", flag: "tcp_port" },
  { transport: "tls", key: "tlsPort", flag: "tls_port" },
  { transport: "ws", key: "wsPort", flag: "ws_port" },
  { transport: "wss", key: "wssPort", flag: "wss_port" },
  { transport: "http", key: "httpPort", flag: "http_port" },
];

function configured(config: Config) {
  return PORTS.flatMap((p) => {
    const port = config[p.key] as number | undefined;
    return port === undefined ? [] : [{ ...p, port }];
  });
}

async function listenerCheck(host: string, t: string, port: number): Promise<CheckResult> {
  const check = `listener ${t}`;
  if (t === "udp") {
    return { check, status: "skip", detail: "UDP has no connection: see options udp" };
  }
  try {
    const conn = await Deno.connect({ hostname: host, port });
    conn.close();
    return { check, status: "pass", detail: `${host}:${port} accepts connections` };
  } catch (error) {
    return {
      check,
      status: "fail",
      detail: `nothing accepts on ${host}:${port} (${(error as Error).message})`,
      fix: "start sipws with this configuration; if it runs, another program may hold the port",
    };
  }
}

async function sipChecks(config: Config, o: DoctorOptions): Promise<CheckResult[]> {
  const host = probeHost(config);
  let caCert: string | undefined;
  try {
    caCert = await Deno.readTextFile(config.certificate);
  } catch { /* reported by the certificate checks */ }
  const origin = allowedOrigin(config);
  const out: CheckResult[] = [];
  let registrar: { t: Transport; port: number } | undefined;
  for (const { transport, port } of configured(config)) {
    if (transport === "http") continue;
    const t = transport as Transport;
    const isWs = t === "ws" || t === "wss";
    let link;
    try {
      link = await openLink(t, host, port, caCert, origin);
      if (isWs) {
        out.push({
          check: `${t} handshake`,
          status: "pass",
          detail: `101 with subprotocol sip${origin ? ` for Origin ${origin}` : ""}`,
        });
      }
    } catch (error) {
      const why = (error as Error).message;
      out.push({
        check: isWs ? `${t} handshake` : `options ${t}`,
        status: "fail",
        detail: `cannot connect to ${host}:${port}: ${why}`,
        fix: t === "tls" || t === "wss"
          ? "check the certificate checks above; a client must trust it and its chain"
          : isWs
          ? "see the origin policy, check_host and POST /ws/enable; is sipws running?"
          : "is sipws running with this configuration?",
      });
      continue;
    }
    try {
      const { text, callId } = optionsRequest(link, host, port);
      const r = await link.request(text, callId);
      out.push(
        r.status === 200
          ? { check: `options ${t}`, status: "pass", detail: `200 from ${host}:${port}` }
          : {
            check: `options ${t}`,
            status: "fail",
            detail: `${r.status} ${r.reason}`,
            fix: r.status === 503
              ? "sipws is stopped (SIPWS q=stop) or shedding load: POST / {q: start}"
              : "sipws answered but refused OPTIONS to itself: check [sip] domains",
          },
      );
      registrar ??= { t, port };
    } catch (error) {
      out.push({
        check: `options ${t}`,
        status: "fail",
        detail: `${(error as Error).message} from ${host}:${port}`,
        fix: "is sipws running with this configuration, and not stopped (SIPWS POST / " +
          `{q: start})?${t === "udp" ? " a firewall may drop UDP" : ""}`,
      });
    } finally {
      link.close();
    }
  }
  if (o.user === undefined) {
    out.push({ check: "register", status: "skip", detail: "give --user and --password" });
  } else out.push(await registerCheck(config, o, host, caCert, origin, registrar));
  return out;
}

async function registerCheck(
  config: Config,
  o: DoctorOptions,
  host: string,
  caCert: string | undefined,
  origin: string | undefined,
  at: { t: Transport; port: number } | undefined,
): Promise<CheckResult> {
  const [user, given] = o.user!.split("@");
  const domain = given ?? config.sip.domains[0];
  if (!domain || o.password === undefined) {
    return {
      check: "register",
      status: "fail",
      detail: "need --user user@domain (or [sip] domains) and --password",
      fix: "sipws doctor --user alice@example.com --password SECRET",
    };
  }
  if (!at) {
    return { check: "register", status: "skip", detail: "no transport answered OPTIONS" };
  }
  const link = await openLink(at.t, host, at.port, caCert, origin);
  try {
    const r = await register(link, { user, domain, password: o.password, expires: 60 });
    if (r.status !== 200) {
      return {
        check: "register",
        status: "fail",
        detail: `${user}@${domain} over ${at.t}: ${r.status} ${r.reason}`,
        fix: r.status === 403 || r.status === 401
          ? `wrong password, or no such account: sipws accounts list ${domain}`
          : "see the server log (sipws -f -vvv)",
      };
    }
    await register(link, { user, domain, password: o.password, expires: 0 }).catch(() => {});
    return { check: "register", status: "pass", detail: `${user}@${domain} over ${at.t}: 200` };
  } finally {
    link.close();
  }
}

/** Runs every check for the command line `args` (after `doctor`); returns the exit code. */
export async function runDoctor(args: string[]): Promise<number> {
  const { options, serverArgs } = splitDoctorArgs(args);
  let config: Config;
  let source: string;
  try {
    const loaded = await loadConfig(serverArgs);
    config = loaded.config;
    source = loaded.sources.slice(1).join(" + ") || "embedded defaults";
  } catch (error) {
    return reportLoadError(error);
  }
  const results: CheckResult[] = [{ check: "config", status: "pass", detail: source }];
  results.push(transportCheck(config));
  results.push(...await certificateChecks(config));
  results.push(originCheck(config));
  const host = probeHost(config);
  for (const { transport, port } of configured(config)) {
    results.push(await listenerCheck(host, transport, port));
  }
  results.push(...await sipChecks(config, options));
  const failed = results.some((r) => r.status === "fail");
  if (options.json) console.log(JSON.stringify({ ok: !failed, checks: results }, null, 2));
  else printResults(results, failed);
  return failed ? 1 : 0;
}

function printResults(results: CheckResult[], failed: boolean): void {
  const width = Math.max(...results.map((r) => r.check.length));
  for (const r of results) {
    console.log(`${r.status.toUpperCase().padEnd(4)}  ${r.check.padEnd(width)}  ${r.detail}`);
    if (r.fix) console.log(`${" ".repeat(width + 8)}fix: ${r.fix}`);
  }
  console.log(failed ? "some checks failed" : "all checks passed");
}

/** Adds `doctor`: it takes the server's flags, so commander leaves them to `runDoctor`. */
export function registerDoctorCommand(
  program: Command,
  args: string[],
  setCode: (code: number) => void,
): void {
  program.command("doctor")
    .description(
      "check the configuration and probe the running server (--user U --password P --json)",
    )
    .allowUnknownOption()
    .allowExcessArguments()
    .helpOption(false)
    .action(async () => setCode(await runDoctor(args.slice(args.indexOf("doctor") + 1))));
}
