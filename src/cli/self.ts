/**
 * @module How sipws names and re-runs itself: the command line that starts this same sipws
 * (the compiled binary, or `deno run -A --unstable-lazy-dynamic-imports --v8-flags=... --config
 * deno.json main.ts` from a checkout), used by
 * the daemon to re-spawn itself and by `service install` for ExecStart; and the version from
 * deno.json (bundled into a compiled binary, so no file is needed at run time).
 */

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import denoJson from "../../deno.json" with { type: "json" };
import { isCompiled } from "../config/load.ts";
import { SERVER_RUN_FLAGS } from "./v8_flags.ts";

/** sipws's version as deno.json states it. */
export const VERSION: string = denoJson.version;

/** Path of the repository's main.ts (meaningful only when not compiled). */
export function mainScriptPath(): string {
  return fileURLToPath(new URL("../../main.ts", import.meta.url));
}

/** The program and arguments that run this sipws with `args` appended. */
export function selfCommand(args: string[]): { command: string; args: string[] } {
  if (isCompiled()) return { command: Deno.execPath(), args };
  const main = mainScriptPath();
  const config = join(dirname(main), "deno.json");
  let hasConfig = false;
  try {
    hasConfig = Deno.statSync(config).isFile;
  } catch {
    hasConfig = false;
  }
  return {
    command: Deno.execPath(),
    args: [
      "run",
      "-A",
      ...SERVER_RUN_FLAGS,
      ...(hasConfig ? ["--config", config] : []),
      main,
      ...args,
    ],
  };
}
