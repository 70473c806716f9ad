/**
 * @module `sipws config check [FILE]`: validate a sipws.toml or legacy sipws.cfg without
 * starting anything. Exit 0 when the file is valid (or none exists: the embedded defaults
 * apply), 2 with `error: FILE:LINE: KEY: what is wrong` otherwise.
 */

import { isAbsolute, resolve } from "node:path";
import type { Command } from "commander";
import { defaultConfig } from "../config/config.ts";
import { hasTransport } from "../config/flags.ts";
import { findConfigFile, readConfigFile, searchDirs } from "../config/load.ts";
import { applyPatch } from "../config/toml.ts";
import { describeTransports } from "./describe.ts";
import { reportLoadError } from "./output.ts";

/** Checks `file` (or the one the search order finds); returns the exit code. */
export async function checkConfig(file?: string): Promise<number> {
  const path = file === undefined
    ? await findConfigFile()
    : (isAbsolute(file) ? file : resolve(Deno.cwd(), file));
  if (path === undefined) {
    console.log(
      `no sipws.toml or sipws.cfg in ${searchDirs().join(", ")}: embedded defaults apply`,
    );
    return 0;
  }
  try {
    const { patch, explicit } = await readConfigFile(path);
    const config = applyPatch(defaultConfig(), patch);
    console.log(`ok: ${path} (${explicit.length} key(s) set)`);
    if (!hasTransport(config)) {
      console.log(
        "note: the file enables no transport; give one with -u, -t, -p, -s or --tls-port",
      );
    } else console.log(`transports: ${describeTransports(config)}`);
    return 0;
  } catch (e) {
    return reportLoadError(e);
  }
}

/** Adds `config check [FILE]`. */
export function registerConfigCommand(program: Command, setCode: (code: number) => void): void {
  const config = program.command("config").description("configuration file tools");
  config
    .command("check")
    .description("validate sipws.toml (or FILE) and exit: 0 valid, 2 invalid")
    .argument("[file]", "file to check instead of the search order")
    .action(async (file: string | undefined) => setCode(await checkConfig(file)));
}
