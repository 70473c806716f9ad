/**
 * @module `sipws service install|uninstall|status`: run sipws under the OS service manager.
 * On Linux it writes a sandboxed systemd unit (foreground mode, Restart=on-failure, only
 * CAP_NET_BIND_SERVICE so port 5060 binds without root) and drives `systemctl`; on Windows it
 * uses `sc`. It owns the unit text and its quoting; serving itself stays in serve.ts.
 */

import { dirname, isAbsolute, resolve } from "node:path";
import type { Command } from "commander";
import { hasTransport, NO_TRANSPORT_MESSAGE } from "../config/flags.ts";
import { isCompiled, loadConfig } from "../config/load.ts";
import { printErr, reportLoadError } from "./output.ts";
import { selfCommand } from "./self.ts";

export const DEFAULT_UNIT_PATH = "/etc/systemd/system/sipws.service";

/** Quotes one ExecStart argument per systemd.service(5) "Command lines". */
export function systemdQuote(arg: string): string {
  // `%` starts a specifier and `$` a variable expansion: double them to keep them literal.
  const escaped = arg.replace(/%/g, "%%").replace(/\$/g, "$$$$");
  if (escaped !== "" && /^[A-Za-z0-9_@%+=:,./-]+$/.test(escaped)) return escaped;
  return `"${escaped.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

export interface UnitOptions {
  /** Program and arguments, already including `--foreground`. */
  execStart: string[];
  workingDirectory: string;
  /** Folders the service writes (store, JSON database, log file). */
  readWritePaths: string[];
  /** Run as this user instead of root; the capability then lets it bind port 5060. */
  user?: string;
  /** `NAME=value` pairs for Environment=. */
  environment?: string[];
  description?: string;
}

/** The systemd unit text for sipws. */
export function renderSystemdUnit(o: UnitOptions): string {
  // ProtectHome would hide a binary or working folder under /home or /root.
  const underHome = [...o.execStart, o.workingDirectory, ...o.readWritePaths].some((p) =>
    /^\/(home|root)(\/|$)/.test(p)
  );
  const lines = [
    "[Unit]",
    `Description=${o.description ?? "sipws SIP registrar and proxy (UDP, TCP, TLS, WS, WSS)"}`,
    "After=network-online.target",
    "Wants=network-online.target",
    "",
    "[Service]",
    "Type=simple",
    `ExecStart=${o.execStart.map(systemdQuote).join(" ")}`,
    "ExecReload=/bin/kill -HUP $MAINPID",
    `WorkingDirectory=${systemdQuote(o.workingDirectory)}`,
    ...(o.user ? [`User=${o.user}`] : []),
    ...(o.environment ?? []).map((e) => `Environment=${systemdQuote(e)}`),
    "Restart=on-failure",
    "RestartSec=2s",
    "TimeoutStopSec=20s",
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    `ProtectHome=${underHome ? "read-only" : "yes"}`,
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectControlGroups=yes",
    "RestrictSUIDSGID=yes",
    "LockPersonality=yes",
    // `-` prefix: a folder that does not exist yet must not stop the service from starting.
    ...o.readWritePaths.map((p) => `ReadWritePaths=-${systemdQuote(p)}`),
    "AmbientCapabilities=CAP_NET_BIND_SERVICE",
    "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ];
  return lines.join("\n");
}

async function denoCacheDir(): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdin: "null" })
      .output();
    const dir = JSON.parse(new TextDecoder().decode(out.stdout)).denoDir;
    return typeof dir === "string" ? dir : undefined;
  } catch {
    return undefined;
  }
}

async function run(cmd: string, args: string[]): Promise<number | "missing"> {
  try {
    const out = await new Deno.Command(cmd, { args, stdin: "null" }).output();
    await Deno.stdout.write(out.stdout);
    await Deno.stderr.write(out.stderr);
    return out.code;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "missing";
    throw e;
  }
}

interface InstallOptions {
  unitPath: string;
  enable: boolean;
  user?: string;
  name: string;
}

/** `service install [options] [-- serve flags]`; returns the exit code. */
export async function installService(serveArgs: string[], o: InstallOptions): Promise<number> {
  // Validate the flags the service will run with now, not at the first boot.
  let config;
  try {
    config = (await loadConfig(serveArgs)).config;
  } catch (e) {
    return reportLoadError(e);
  }
  if (!hasTransport(config)) {
    printErr(`error: ${NO_TRANSPORT_MESSAGE}`);
    return 2;
  }
  const args = serveArgs.filter((a) => a !== "-f" && a !== "--foreground");
  const self = selfCommand(["--foreground", ...args]);
  if (Deno.build.os === "windows") {
    const bin = [self.command, ...self.args].map((a) => a.includes(" ") ? `"${a}"` : a).join(" ");
    const code = await run("sc", ["create", o.name, "binPath=", bin, "start=", "auto"]);
    if (code === "missing") {
      printErr("error: sc.exe not found");
      return 1;
    }
    return code;
  }
  const cwd = Deno.cwd();
  const abs = (p: string) => isAbsolute(p) ? p : resolve(cwd, p);
  const writable = [config.storePath, config.dbFile, config.logFile]
    .filter((p): p is string => p !== undefined)
    .map((p) => dirname(abs(p)));
  let environment: string[] = [];
  if (!isCompiled()) {
    // Under `deno run` the service needs Deno's module cache, usually under /root or /home.
    const denoDir = await denoCacheDir();
    if (denoDir !== undefined) {
      environment = [`DENO_DIR=${denoDir}`];
      writable.push(denoDir);
    }
  }
  const unit = renderSystemdUnit({
    execStart: [self.command, ...self.args],
    workingDirectory: cwd,
    readWritePaths: writable.filter((p, i) => writable.indexOf(p) === i),
    user: o.user,
    environment,
  });
  // A `-w` key password on ExecStart must not be world-readable.
  const secret = args.some((a) => /^(-w|--password)/.test(a) || /^-[^-]*w/.test(a));
  try {
    await Deno.writeTextFile(o.unitPath, unit, { mode: secret ? 0o600 : 0o644 });
    if (secret) await Deno.chmod(o.unitPath, 0o600);
  } catch (e) {
    printErr(`error: cannot write ${o.unitPath}: ${e instanceof Error ? e.message : e}`);
    return 1;
  }
  console.log(`wrote ${o.unitPath}`);
  if (!o.enable) {
    console.log("not enabled (--no-enable)");
    return 0;
  }
  const reload = await run("systemctl", ["daemon-reload"]);
  if (reload === "missing") {
    console.log("systemctl not found: unit written but not enabled");
    return 0;
  }
  const unitName = o.unitPath.split("/").pop()!;
  const code = await run("systemctl", ["enable", unitName]);
  if (code !== 0) return 1;
  console.log(`enabled ${unitName}; start it with: systemctl start ${unitName}`);
  return 0;
}

async function uninstallService(o: InstallOptions): Promise<number> {
  if (Deno.build.os === "windows") {
    await run("sc", ["stop", o.name]);
    const code = await run("sc", ["delete", o.name]);
    return code === "missing" ? 1 : code;
  }
  const unitName = o.unitPath.split("/").pop()!;
  if (o.enable) {
    const code = await run("systemctl", ["disable", "--now", unitName]);
    if (code === "missing") console.log("systemctl not found: only removing the unit file");
  }
  try {
    await Deno.remove(o.unitPath);
    console.log(`removed ${o.unitPath}`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      printErr(`error: cannot remove ${o.unitPath}: ${e instanceof Error ? e.message : e}`);
      return 1;
    }
    console.log(`${o.unitPath} was not installed`);
  }
  if (o.enable) await run("systemctl", ["daemon-reload"]);
  return 0;
}

async function serviceStatus(o: InstallOptions): Promise<number> {
  if (Deno.build.os === "windows") {
    const code = await run("sc", ["query", o.name]);
    return code === "missing" ? 1 : code;
  }
  let installed = true;
  try {
    await Deno.stat(o.unitPath);
  } catch {
    installed = false;
  }
  console.log(`${o.unitPath}: ${installed ? "installed" : "not installed"}`);
  if (!installed) return 3; // LSB "program is not running", as systemctl status uses
  const code = await run("systemctl", ["status", "--no-pager", o.unitPath.split("/").pop()!]);
  if (code === "missing") {
    console.log("systemctl not found: cannot query the service state");
    return 0;
  }
  return code;
}

/** Adds `service install|uninstall|status`; `setCode` receives each action's exit code. */
export function registerServiceCommand(program: Command, setCode: (code: number) => void): void {
  const service = program.command("service").description(
    "install, uninstall or query sipws as a system service (systemd, or sc on Windows)",
  );
  const common = (c: Command) =>
    c
      .option("--unit-path <file>", "systemd unit file", DEFAULT_UNIT_PATH)
      .option("--name <name>", "Windows service name", "sipws");
  common(service.command("install"))
    .description(
      "write the unit (or create the Windows service) and enable it; serve flags after --",
    )
    .option("--no-enable", "write the unit only; do not run systemctl")
    .option("--user <user>", "run the service as this user")
    .argument("[serve-flags...]", "flags the service runs with, e.g. -- -u 5060 -t 5060")
    .passThroughOptions()
    .action(async (serveArgs: string[], opts) => {
      setCode(await installService(serveArgs, opts as InstallOptions));
    });
  common(service.command("uninstall"))
    .description("disable and stop the service and remove its unit")
    .option("--no-enable", "only remove the unit file; do not run systemctl")
    .action(async (opts) => setCode(await uninstallService(opts as InstallOptions)));
  common(service.command("status"))
    .description("show whether the service is installed and running")
    .action(async (opts) => setCode(await serviceStatus({ ...opts, enable: true })));
}
