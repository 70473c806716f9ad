/**
 * @module Where configuration comes from and in what order: embedded defaults < one file
 * (`sipws.toml`, else legacy `sipws.cfg`) < command-line flags. It owns SIPWS's search order
 * (the binary's folder, the current folder, then /etc or %WINDIR%), `--config FILE` and
 * `--skipconfig`. It reads files but starts nothing and logs nothing: `serve`, SIGHUP reload,
 * `config check` and `accounts` all call `loadConfig`.
 *
 * Rule when both kinds exist: every folder of the search order is tried for `sipws.toml`
 * first; only when no `sipws.toml` exists anywhere is `sipws.cfg` searched for, in the same
 * order. One file is read, never a merge of several.
 */

import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Config, defaultConfig } from "./config.ts";
import { type FlagMeta, parseFlags } from "./flags.ts";
import { parseLegacyCfg } from "./legacy_cfg.ts";
import { applyPatch, ConfigError, type ConfigPatch, parseTomlConfig } from "./toml.ts";

export { ConfigError } from "./toml.ts";

/** Overrides of the process environment, for tests and tools. */
export interface LoadEnv {
  cwd?: string;
  /** Folder of the sipws binary (or of main.ts under `deno run`). */
  binaryDir?: string;
  /** `/etc`, or `%WINDIR%` on Windows. */
  systemDir?: string;
}

export interface LoadResult {
  config: Config;
  /** What contributed, in order: `defaults`, a file path, `command line`. */
  sources: string[];
  /** Loader directives from the command line (`--config`, `--skipconfig`, daemon marker). */
  meta: FlagMeta;
  /** The config file read, if any. */
  file?: string;
  /** TOML keys set explicitly by the file or the flags. */
  explicit: Set<string>;
}

/** True when running as a `deno compile`d binary rather than under `deno run`. */
export function isCompiled(): boolean {
  const exe = Deno.execPath().replace(/\\/g, "/").split("/").pop()!.toLowerCase();
  return exe !== "deno" && exe !== "deno.exe";
}

/** The binary's folder: the executable's when compiled, the main module's under `deno run`. */
export function binaryDir(): string {
  if (isCompiled()) return dirname(Deno.execPath());
  try {
    return dirname(fileURLToPath(Deno.mainModule));
  } catch {
    return Deno.cwd();
  }
}

/** SIPWS's search order, without duplicates. */
export function searchDirs(env: LoadEnv = {}): string[] {
  const system = env.systemDir ??
    (Deno.build.os === "windows" ? (Deno.env.get("WINDIR") ?? "C:\\Windows") : "/etc");
  const dirs = [env.binaryDir ?? binaryDir(), env.cwd ?? Deno.cwd(), system];
  return dirs.filter((d, i) => dirs.indexOf(d) === i);
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/** The config file the search order finds: any `sipws.toml` first, then any `sipws.cfg`. */
export async function findConfigFile(env: LoadEnv = {}): Promise<string | undefined> {
  const dirs = searchDirs(env);
  for (const name of ["sipws.toml", "sipws.cfg"]) {
    for (const dir of dirs) {
      const p = join(dir, name);
      if (await exists(p)) return p;
    }
  }
  return undefined;
}

/** Reads and validates one file; `.cfg` files are legacy command lines, the rest TOML. */
export async function readConfigFile(
  path: string,
): Promise<{ patch: ConfigPatch; explicit: string[] }> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "no such file" : `cannot read (${e})`;
    throw new ConfigError(path, undefined, undefined, why);
  }
  if (path.toLowerCase().endsWith(".cfg")) {
    const parsed = parseLegacyCfg(text, path);
    return { patch: parsed.patch, explicit: parsed.keysSet };
  }
  const patch = parseTomlConfig(text, path, dirname(resolve(path)));
  return { patch, explicit: tomlKeys(patch) };
}

function tomlKeys(patch: ConfigPatch): string[] {
  const snake = (s: string) => s.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase());
  const out: string[] = [];
  for (const [k, v] of Object.entries(patch)) {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      for (const j of Object.keys(v)) out.push(`${snake(k)}.${snake(j)}`);
    } else out.push(snake(k));
  }
  return out;
}

/**
 * Builds the Config for a serve command line (no subcommand name): defaults, then the file
 * (unless `--skipconfig`), then the flags. Throws `ConfigError` (file, line, key) for bad
 * values and `UsageError` for a malformed command line.
 */
export async function loadConfig(argv: string[], env: LoadEnv = {}): Promise<LoadResult> {
  const flags = parseFlags(argv);
  const sources = ["defaults"];
  const patches: ConfigPatch[] = [];
  const explicit = new Set<string>();
  let file: string | undefined;
  if (flags.meta.configFile !== undefined) {
    const p = flags.meta.configFile;
    file = isAbsolute(p) ? p : resolve(env.cwd ?? Deno.cwd(), p);
  } else if (!flags.meta.skipConfig) {
    file = await findConfigFile(env);
  }
  if (file !== undefined) {
    const read = await readConfigFile(file);
    patches.push(read.patch);
    read.explicit.forEach((k) => explicit.add(k));
    sources.push(file);
  }
  if (argv.length > 0) {
    patches.push(flags.patch);
    flags.keysSet.forEach((k) => explicit.add(k));
    sources.push("command line");
  }
  const config = applyPatch(defaultConfig(), ...patches);
  return { config, sources, meta: flags.meta, file, explicit };
}
