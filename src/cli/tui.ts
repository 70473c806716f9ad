/**
 * @module PLACEHOLDER for the terminal dashboard hooks, to be replaced by the TUI engineer.
 * The contract src/cli/main.ts and serve.ts rely on: `registerTuiCommand(program)` adds the
 * `tui` subcommand, and `runTuiForServer(server)` (used by `serve --tui`) shows the dashboard
 * for a running server and resolves when the operator quits, which stops the server.
 */

import type { Command } from "commander";
import type { Server } from "../server.ts";

/** Registers `tui`; until implemented it prints an error and exits 1. */
export function registerTuiCommand(program: Command): void {
  program
    .command("tui")
    .description("terminal dashboard of a running sipws")
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .argument("[args...]")
    .action(() => {
      console.error("error: not implemented");
      Deno.exitCode = 1;
    });
}

/** Shows the dashboard for `server`; resolves when the operator quits. */
export function runTuiForServer(_server: Server): Promise<void> {
  return Promise.reject(new Error("the dashboard is not implemented yet"));
}
