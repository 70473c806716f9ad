/**
 * @module The command-line flags of serving: SIPWS's argtable2 table (same letters, long
 * names and meaning) plus sipws's long-only additions, declared once as `FLAGS` and turned into
 * commander options and into a `ConfigPatch`. It owns flag syntax and value checks; it does not
 * read files, search for config or run anything (see load.ts and src/cli/).
 */

import { Command, CommanderError, Option } from "commander";
import type { Config } from "./config.ts";
import { checkValue, ConfigError, type ConfigPatch, type Spec, specOf } from "./toml.ts";

/** What a flag sets: a Config key (TOML dotted name) or a loader directive. */
export interface FlagSpec {
  short?: string;
  long: string;
  /** Value placeholder as SIPWS's help prints it; absent for switches. */
  value?: string;
  description: string;
  /** TOML key the flag sets; `meta` flags steer loading instead. */
  key?: string;
  meta?: "config" | "skipConfig" | "daemonChild";
  /** `-v` counts: -v, -vv, -vvv. */
  count?: boolean;
  hidden?: boolean;
}

/** SIPWS's table first (order kept), then sipws's long-only flags. */
export const FLAGS: readonly FlagSpec[] = [
  {
    short: "i",
    long: "interface",
    value: "<IP>",
    key: "interface",
    description: "host name or IP address. Default 0.0.0.0- all interfaces",
  },
  {
    short: "r",
    long: "httpport",
    value: "<port>",
    key: "http_port",
    description: "HTTP register control port number, e.g. 8082",
  },
  {
    short: "p",
    long: "port",
    value: "<port>",
    key: "ws_port",
    description: "SIP WS port number, e.g. 8080",
  },
  {
    short: "s",
    long: "tlsport",
    value: "<port>",
    key: "wss_port",
    description: "SIP WSS port number. e.g. 443",
  },
  {
    short: "u",
    long: "udpport",
    value: "<port>",
    key: "udp_port",
    description: "SIP UDP port number. Disable UDP transport if not specified",
  },
  {
    short: "t",
    long: "tcpport",
    value: "<port>",
    key: "tcp_port",
    description: "SIP TCP port number. Disable TCP transport if not specified",
  },
  {
    short: "c",
    long: "certificate",
    value: "<file>",
    key: "certificate",
    description: "certificate file, default server.pem",
  },
  {
    short: "k",
    long: "pk",
    value: "<file>",
    key: "private_key",
    description: "private key file, default server.pem",
  },
  {
    short: "w",
    long: "password",
    value: "<key>",
    key: "certificate_password",
    description: "certificate password, e.g. test",
  },
  {
    short: "d",
    long: "data",
    value: "<file>",
    key: "data_file",
    description: "initial registry request JSON file",
  },
  {
    short: "b",
    long: "db",
    value: "<file>",
    key: "db_file",
    description: "writeable database file name",
  },
  { short: "f", long: "foreground", key: "foreground", description: "Do not start deamon" },
  {
    short: "v",
    long: "verbose",
    key: "verbosity",
    count: true,
    description: "severity: -v: error, -vv: warning, -vvv: debug. Default fatal error only.",
  },
  {
    short: "l",
    long: "locale",
    value: "<locale>",
    key: "locale",
    description: "e.g. russian_russia.1251, ru_RU.UTF-8",
  },
  { short: "8", long: "utf8", key: "utf8", description: "locale use UTF-8" },
  {
    long: "skipconfig",
    meta: "skipConfig",
    description: "Skip reading arguments from sipws.toml / sipws.cfg",
  },
  // sipws additions: long names only, so SIPWS's letters keep their meaning.
  {
    long: "tls-port",
    value: "<port>",
    key: "tls_port",
    description: "SIP over TLS port number (uses -c/-k)",
  },
  {
    long: "config",
    value: "<file>",
    meta: "config",
    description: "read this sipws.toml (or sipws.cfg) instead of searching",
  },
  {
    long: "workers",
    value: "<N>",
    key: "workers",
    description: "SIP worker threads sharing every port (default 0: one per CPU core)",
  },
  { long: "tui", key: "tui", description: "show the terminal dashboard" },
  {
    long: "log-format",
    value: "<format>",
    key: "log_format",
    description: "log line format: text or json",
  },
  { long: "log-file", value: "<file>", key: "log_file", description: "also append logs to file" },
  {
    long: "pid-file",
    value: "<file>",
    key: "pid_file",
    description: "pid file written in daemon mode, default sipws.pid",
  },
  {
    long: "store",
    value: "<file>",
    key: "store_path",
    description: "sqlite account store, default sipws.db (when -b is absent)",
  },
  {
    long: "cluster-redis",
    value: "<url>",
    key: "cluster.redis",
    description: "join the cluster sharing this Redis (redis:// or rediss://)",
  },
  {
    long: "node-id",
    value: "<id>",
    key: "cluster.node_id",
    description: "node name in the cluster",
  },
  {
    long: "advertise",
    value: "<uri>",
    key: "cluster.advertise",
    description: "SIP URI other nodes use to reach this one",
  },
  {
    long: "daemon-child",
    meta: "daemonChild",
    hidden: true,
    description: "internal: set on the detached process",
  },
];

/** Loader directives found on a command line. */
export interface FlagMeta {
  configFile?: string;
  skipConfig: boolean;
  daemonChild: boolean;
}

export interface ParsedFlags {
  patch: ConfigPatch;
  meta: FlagMeta;
  /** TOML keys the flags set, e.g. `udp_port` (for "was this given explicitly"). */
  keysSet: string[];
}

/** A malformed command line: unknown option, missing value. Exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Commander's attribute name for a long flag (`tls-port` → `tlsPort`). */
function attrName(long: string): string {
  return long.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

/** The flag as a person writes it: `-u/--udpport` or `--tls-port`. */
export function flagLabel(f: FlagSpec): string {
  return f.short ? `-${f.short}/--${f.long}` : `--${f.long}`;
}

/** Adds every serve flag and the positional `[key...]` to a commander command. */
export function addServeOptions(cmd: Command): Command {
  for (const f of FLAGS) {
    const flags = (f.short ? `-${f.short}, ` : "") + `--${f.long}` + (f.value ? ` ${f.value}` : "");
    const opt = new Option(flags, f.description);
    if (f.count) opt.argParser((_v: string, prev: number | undefined) => (prev ?? 0) + 1);
    if (f.hidden) opt.hideHelp();
    cmd.addOption(opt);
  }
  cmd.argument("[key...]", "update registry valid keys (-r)");
  return cmd;
}

/**
 * Turns commander's option values into a patch, checking each value against the schema.
 * `where(flag)` names the source in errors (command line, or `sipws.cfg:LINE`).
 */
export function optionsToFlags(
  opts: Record<string, unknown>,
  keys: string[],
  where: (f: FlagSpec) => { file: string; line?: number },
): ParsedFlags {
  const patch: Record<string, unknown> = {};
  const meta: FlagMeta = { skipConfig: false, daemonChild: false };
  const keysSet: string[] = [];
  for (const f of FLAGS) {
    const raw = opts[attrName(f.long)];
    if (raw === undefined) continue;
    if (f.meta === "config") meta.configFile = String(raw);
    else if (f.meta === "skipConfig") meta.skipConfig = true;
    else if (f.meta === "daemonChild") meta.daemonChild = true;
    if (f.key === undefined) continue;
    const spec = specOf(f.key) as Spec;
    let value: unknown = raw;
    if (f.count) value = raw;
    else if (spec.kind === "bool") value = true;
    else if (spec.kind === "port" || spec.kind === "int") {
      value = /^\s*-?\d+\s*$/.test(String(raw)) ? Number(raw) : NaN;
    }
    if (f.count && typeof value === "number" && value > 3) value = 3;
    const checked = checkValue(spec, value);
    if (!checked.ok) {
      const at = where(f);
      const detail = Number.isNaN(value) ? `'${raw}' is not a number` : checked.error;
      throw new ConfigError(at.file, at.line, flagLabel(f), detail);
    }
    setDotted(patch, f.key, checked.value);
    keysSet.push(f.key);
  }
  if (keys.length > 0) {
    patch.keys = [...keys];
    keysSet.push("keys");
  }
  return { patch: patch as ConfigPatch, meta, keysSet };
}

function setDotted(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split(".");
  const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
  if (parts.length === 1) {
    target[camel(parts[0])] = value;
    return;
  }
  const t = camel(parts[0]);
  target[t] = { ...(target[t] as Record<string, unknown> | undefined), [camel(parts[1])]: value };
}

/**
 * Parses a serve command line (no subcommand name) into a patch. Throws `UsageError` for
 * syntax problems and `ConfigError` for bad values. Accepts argtable2's forms too:
 * `--udpport=5060`, `-u5060`, `-u 5060`, `-fv8`, `-vvv`.
 */
export function parseFlags(
  argv: string[],
  where: (f: FlagSpec) => { file: string; line?: number } = () => ({ file: "command line" }),
): ParsedFlags {
  const cmd = new Command("sipws");
  cmd.exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
  cmd.helpOption(false);
  cmd.allowExcessArguments(true);
  addServeOptions(cmd);
  try {
    cmd.parse(argv, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) throw new UsageError(e.message.replace(/^error:\s*/, ""));
    throw e;
  }
  return optionsToFlags(cmd.opts(), cmd.args, where);
}

/** True when the config enables at least one SIP transport. */
export function hasTransport(config: Config): boolean {
  return [config.udpPort, config.tcpPort, config.tlsPort, config.wsPort, config.wssPort].some(
    (p) => p !== undefined,
  );
}

export const NO_TRANSPORT_MESSAGE = "enable at least one transport (-u, -t, -p, -s or --tls-port)";
