/**
 * @module How CLI commands report to the terminal: `error: ...` on stderr, and the exit code
 * of a failure (2 for usage and configuration errors, 1 for runtime failures, as DESIGN.md
 * says). Printing must never throw, even from a detached daemon with stderr closed.
 */

import { UsageError } from "../config/flags.ts";
import { ConfigError } from "../config/toml.ts";

const encoder = new TextEncoder();

/** Writes one line to stderr (ignored when stderr is closed, as in a daemon). */
export function printErr(line: string): void {
  try {
    Deno.stderr.writeSync(encoder.encode(line + "\n"));
  } catch {
    // detached: nowhere to print
  }
}

/** Prints a loading failure and returns its exit code: 2 for config and usage errors. */
export function reportLoadError(e: unknown): number {
  if (e instanceof ConfigError || e instanceof UsageError) {
    printErr(`error: ${e.message}`);
    return 2;
  }
  printErr(`error: ${e instanceof Error ? e.message : String(e)}`);
  return 1;
}
