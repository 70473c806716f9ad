/**
 * @module The real sipws (main.ts) as a child process, the way restart, crash and cluster
 * tests start it: in the foreground, without a config file, listening on one address.
 */
import { type ChildProcess, spawnChild } from "./process.ts";
import { SERVER_RUN_FLAGS } from "../../src/cli/v8_flags.ts";

/** main.ts of this checkout. */
export const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** Spawns `deno run -A main.ts -f --skipconfig -i <host> ...args` in `cwd`. */
export function spawnSipws(host: string, args: string[], cwd: string): ChildProcess {
  return spawnChild(Deno.execPath(), {
    args: ["run", "-A", ...SERVER_RUN_FLAGS, MAIN, "-f", "--skipconfig", "-i", host, ...args],
    cwd,
  });
}
