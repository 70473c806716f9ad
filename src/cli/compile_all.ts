/**
 * @module `deno task compile:all`: one self-contained sipws executable per supported platform
 * in dist/. `deno compile` fetches each target's runtime base from the internet, so this
 * cannot run offline; it stops at the first failure and says which target failed.
 */

import { fileURLToPath } from "node:url";
import { V8_FLAGS_ARG } from "./v8_flags.ts";

export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
] as const;

/** The deno arguments that compile `target` into dist/. */
export function compileArgs(target: string): string[] {
  const exe = target.includes("windows") ? ".exe" : "";
  // The worker threads' entry is loaded by URL at run time, so it is named for the binary.
  return [
    "compile",
    "-A",
    V8_FLAGS_ARG,
    "--include",
    "src/workers/worker_main.ts",
    "--target",
    target,
    "--output",
    `dist/sipws-${target}${exe}`,
    "main.ts",
  ];
}

async function main(): Promise<number> {
  const root = fileURLToPath(new URL("../../", import.meta.url));
  await Deno.mkdir(`${root}dist`, { recursive: true });
  for (const target of TARGETS) {
    console.log(`compiling ${target}`);
    const status = await new Deno.Command(Deno.execPath(), { args: compileArgs(target), cwd: root })
      .spawn().status;
    if (!status.success) {
      console.error(`error: deno compile failed for ${target} (exit ${status.code})`);
      return 1;
    }
  }
  console.log(`done: ${TARGETS.length} executables in dist/`);
  return 0;
}

if (import.meta.main) Deno.exit(await main());
