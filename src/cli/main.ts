/**
 * @module The sipws command line: one commander program whose default action serves (so
 * `sipws -f -u 5060` works as in SIPWS) and whose subcommands are `serve`, `accounts`,
 * `service`, `config check`, `doctor`, `version` and `tui`. It owns dispatch and exit codes only
 * (0 ok, 1 runtime failure, 2 usage or configuration error); each command lives in its
 * own file. Subcommands registered by other files may report failure through
 * `Deno.exitCode`.
 */

import { Command, CommanderError } from "commander";
import { addServeOptions } from "../config/flags.ts";
import { registerAccountsCommand } from "./accounts.ts";
import { registerConfigCommand } from "./config_check.ts";
import { registerDoctorCommand } from "./doctor.ts";
import { runServe } from "./serve.ts";
import { registerServiceCommand } from "./service.ts";
import { VERSION } from "./self.ts";
import { registerTuiCommand } from "./tui.ts";

const DESCRIPTION = "simple websocket SIP service: registrar and proxy over UDP, TCP, TLS, WS, WSS";

/** Builds the program; `setCode` receives the exit code of the command that ran. */
export function buildProgram(args: string[], setCode: (code: number) => void): Command {
  const program = new Command("sipws")
    .description(DESCRIPTION)
    .usage("[options] [key...]  |  sipws <command> ...")
    .exitOverride()
    .enablePositionalOptions()
    .showSuggestionAfterError(true);
  addServeOptions(program);
  program.action(async () => setCode(await runServe(args)));

  const serve = program.command("serve").description("serve SIP (the default command)");
  addServeOptions(serve);
  serve.action(async () => {
    const at = args.indexOf("serve");
    setCode(await runServe([...args.slice(0, at), ...args.slice(at + 1)]));
  });

  registerAccountsCommand(program);
  registerServiceCommand(program, setCode);
  registerConfigCommand(program, setCode);
  registerDoctorCommand(program, args, setCode);
  program.command("version").description("print the sipws version").action(() => {
    console.log(`sipws ${VERSION} (deno ${Deno.version.deno})`);
    setCode(0);
  });
  registerTuiCommand(program);
  return program;
}

/** Runs the command line; resolves with the process exit code. */
export async function runCli(args: string[]): Promise<number> {
  let code: number | undefined;
  const program = buildProgram(args, (c) => code = c);
  try {
    await program.parseAsync(args, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander printed its own message; help and version are successes.
      return e.exitCode === 0 ? 0 : 2;
    }
    throw e;
  }
  return code ?? (typeof Deno.exitCode === "number" ? Deno.exitCode : 0);
}
