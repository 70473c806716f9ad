/**
 * @module How the ring benches (ring_copy.ts, ring_relay.ts) time one record: write it
 * `records` times in one thread, draining the ring every 8 records, after a warm-up of
 * `WARM_UP` records, and take the process's CPU time (not elapsed: the box is shared).
 */
import { cpuUsage } from "node:process";

/** Records written before the measured ones. */
export const WARM_UP = 20_000;

/** CPU µs per record of `write` (one record each) with `drain` after every 8 and at the end. */
export function usPerRecord(write: () => void, drain: () => void, records: number): number {
  const run = (n: number) => {
    for (let i = 0; i < n; i++) {
      write();
      if (i % 8 === 7) drain();
    }
    drain();
  };
  run(WARM_UP);
  const t0 = cpuUsage();
  run(records);
  const used = cpuUsage(t0);
  return (used.user + used.system) / records;
}
