/**
 * @module CPU cost of a stream connection's write queue alone (`src/transport/write_queue.ts`):
 * 10 answers of 480 bytes queued in one turn (one read's worth under load), joined and
 * written as one batch, to a connection whose `write` takes everything at once, so no socket
 * is measured. Each tree (`--root=DIR`, repeatable; default this checkout) runs in a fresh
 * process of its own, trees alternating for `--rounds=N` (3). Prints the main thread's CPU ns
 * per batch (/proc/thread-self/schedstat), median of 15 samples after warm-up. Not part of
 * the product.
 */
import { alternateTrees, CHILD, cpuNs } from "./support/tree_rounds.ts";

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

if (CHILD) await child(CHILD);
else await alternateTrees(import.meta.url, "ns/batch");
