/**
 * @module PLACEHOLDER for `sipws accounts ...` (issue 4), to be replaced by the accounts
 * engineer. The contract main.ts relies on: `registerAccountsCommand(program)` adds the
 * `accounts` subcommand to the root commander program. Use `loadConfig` from
 * src/config/load.ts to find the store as the server does.
 */

import type { Command } from "commander";

/** Registers `accounts`; until implemented it prints an error and exits 1. */
export function registerAccountsCommand(program: Command): void {
  program
    .command("accounts")
    .description("manage SIP accounts (add, del, list, import, export)")
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .argument("[args...]")
    .action(() => {
      console.error("error: not implemented");
      Deno.exitCode = 1;
    });
}
