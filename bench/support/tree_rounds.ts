/**
 * @module Micro-benchmarks that compare source trees: each tree (`--root=DIR`, repeatable;
 * default this checkout) runs in a fresh process of its own (one V8 per tree, as in the
 * server), trees alternating for `--rounds=N` (3); the child prints one figure.
 */
import { arg, argAll } from "./args.ts";

/** The tree a child process measures (`--child=DIR`), undefined in the driver. */
export const CHILD: string | undefined = arg("child");

/** CPU time of this thread, ns (/proc/thread-self/schedstat). */
export function cpuNs(): number {
  return Number(Deno.readTextFileSync("/proc/thread-self/schedstat").split(" ")[0]);
}

/** Runs `benchUrl` once per tree and round, printing each child's figure with `unit`. */
export async function alternateTrees(benchUrl: string, unit: string): Promise<void> {
  const roots = argAll("root").length ? argAll("root") : [new URL("../", benchUrl).pathname];
  const rounds = Number(arg("rounds") ?? 3);
  for (let round = 1; round <= rounds; round++) {
    for (const root of roots) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL(benchUrl).pathname, `--child=${root}`],
        stderr: "inherit",
      }).output();
      const figure = new TextDecoder().decode(out.stdout).trim();
      console.log(`${round} ${root.padEnd(30)} ${figure} ${unit}`);
    }
  }
}
