/**
 * @module sipws entry point: run the command line and exit with its code. Everything lives
 * under src/; see src/cli/main.ts for the commands.
 */

import { runCli } from "./src/cli/main.ts";

Deno.exit(await runCli(Deno.args));
