/**
 * @module CPU a worker thread spends per record when each record wakes it (a datagram handed
 * over to a sleeping worker, as under light or starved load): the main thread writes one
 * UDP-sized datagram record every `--every-us=500` µs for `--duration=3000` ms into a
 * src/workers/ring.ts ring, the worker reads it with the tree's loop
 * (bench/support/ring_wake_worker.ts), and its thread's CPU time (/proc, utime + stime) is
 * and V8's platform threads' divided by the records. Per tree (`--root=DIR`, repeatable; default this checkout),
 * `--rounds=N` interleaved. Not part of the product.
 */
import { arg, argAll } from "./support/args.ts";

const ROOTS = argAll("root").length ? argAll("root") : [new URL("../", import.meta.url).pathname];
const DURATION = Number(arg("duration") ?? 3000);
const EVERY_US = Number(arg("every-us") ?? 500);
const ROUNDS = Number(arg("rounds") ?? 3);

/**
 * utime + stime (clock ticks) of this process's threads whose name starts with `prefix`: its
 * one Worker thread (Deno names it `worker-N`), or V8's platform threads (`V8 DefaultWorke`).
 */
function threadTicks(prefix: string): number {
  let ticks = 0;
  for (const e of Deno.readDirSync("/proc/self/task")) {
    try {
      const comm = Deno.readTextFileSync(`/proc/self/task/${e.name}/comm`).trim();
      if (!comm.startsWith(prefix)) continue;
      const stat = Deno.readTextFileSync(`/proc/self/task/${e.name}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch { /* the thread ended */ }
  }
  return ticks;
}

async function cpuPerRecord(root: string): Promise<{ worker: number; v8: number }> {
  const ring = await import(`${root}/src/workers/ring.ts`);
  const { writer, buffer } = ring.RingWriter.create();
  const worker = new Worker(new URL("./support/ring_wake_worker.ts", import.meta.url).href, {
    type: "module",
  });
  worker.postMessage({ root, ring: buffer });
  await new Promise((r) => setTimeout(r, 500)); // the worker starts
  const bytes = new Uint8Array(500);
  const record = { kind: "datagram", host: "127.0.0.1", port: 5060, bytes };
  const t0 = threadTicks("worker-");
  const v0 = threadTicks("V8 ");
  let sent = 0;
  const end = performance.now() + DURATION;
  let next = performance.now();
  while (performance.now() < end) {
    // Spaced by a busy wait: each record finds the worker asleep.
    if (performance.now() < next) continue;
    writer.write(record);
    sent++;
    next += EVERY_US / 1000;
    if (sent % 100 === 0) await new Promise((r) => setTimeout(r, 0));
  }
  await new Promise((r) => setTimeout(r, 100));
  const perRecord = (ticks: number) => (ticks / 100) * 1e6 / sent;
  const thread = perRecord(threadTicks("worker-") - t0);
  const v8 = perRecord(threadTicks("V8 ") - v0);
  worker.terminate();
  return { worker: thread, v8 };
}

for (let round = 0; round < ROUNDS; round++) {
  for (const root of ROOTS) {
    const us = await cpuPerRecord(root);
    console.log(
      `${root.padEnd(28)} one record every ${EVERY_US} µs: worker thread ${
        us.worker.toFixed(1)
      }, V8 platform threads ${us.v8.toFixed(1)} µs CPU/record`,
    );
  }
}
