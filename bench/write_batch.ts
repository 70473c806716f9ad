/**
 * @module CPU cost of a stream connection's write queue alone (`src/transport/write_queue.ts`):
 * 10 answers of 480 bytes queued in one turn (one read's worth under load), joined and
 * written as one batch, to a connection whose `write` takes everything at once, so no socket
 * is measured. Each tree (`--root=DIR`, repeatable; default this checkout) runs in a fresh
 * process of its own, trees alternating for `--rounds=N` (3). Prints the main thread's CPU ns
 * per batch (/proc/thread-self/schedstat), median of 15 samples after warm-up. Not part of
 * the product.
 */
import { arg, argAll } from "./support/args.ts";

const CHILD = arg("child");
const ROOTS = argAll("root").length ? argAll("root") : [new URL("../", import.meta.url).pathname];
const ROUNDS = Number(arg("rounds") ?? 3);

/** CPU time of this thread, ns. */
function cpuNs(): number {
  return Number(Deno.readTextFileSync("/proc/thread-self/schedstat").split(" ")[0]);
}

async function child(root: string): Promise<void> {
  const { WriteQueue } = await import(`${root}/src/transport/write_queue.ts`);
  let written = 0;
  const conn = {
    write: (bytes: Uint8Array) => {
      written += bytes[bytes.length - 1];
      return Promise.resolve(bytes.length);
    },
  } as unknown as Deno.Conn;
  const queue = new WriteQueue(conn, () => {
    throw new Error("write failed");
  });
  const answers = Array.from({ length: 10 }, (_, i) => new Uint8Array(480).fill(i + 1));
  const batches = async (n: number) => {
    for (let b = 0; b < n; b++) {
      for (const a of answers) queue.write(a);
      await queue.drained();
    }
  };
  await batches(20_000);
  const samples: number[] = [];
  for (let s = 0; s < 15; s++) {
    const t0 = cpuNs();
    await batches(10_000);
    samples.push((cpuNs() - t0) / 10_000);
  }
  if (written === 0) throw new Error("nothing written");
  samples.sort((a, b) => a - b);
  console.log(Math.round(samples[7]));
}

async function main(): Promise<void> {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const root of ROOTS) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL(import.meta.url).pathname, `--child=${root}`],
        stderr: "inherit",
      }).output();
      const ns = new TextDecoder().decode(out.stdout).trim();
      console.log(`${round} ${root.padEnd(30)} ${ns} ns/batch`);
    }
  }
}

if (CHILD) await child(CHILD);
else await main();
