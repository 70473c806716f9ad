/**
 * @module Linux /proc accounting for the benches: the processes of a group (Kamailio forks
 * its workers into its leader's group), CPU time in clock ticks, and memory fields (kB) of
 * /proc/PID/status or smaps_rollup, and this process's own CPU time. Reads procfs only; never
 * signals or starts a process.
 */

import process from "node:process";

/** Clock ticks per second of utime/stime (USER_HZ, 100 on Linux). */
export const CLOCK_TICKS_PER_S = 100;

/** Fields of /proc/PID/stat after the command name: [0] is field 3 (state). Throws if gone. */
function statFields(pid: number, path = `/proc/${pid}/stat`): string[] {
  const stat = Deno.readTextFileSync(path);
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** utime + stime of one process, in clock ticks; throws when the process is gone. */
export function processTicks(pid: number): number {
  const fields = statFields(pid);
  return Number(fields[11]) + Number(fields[12]); // fields 14, 15: utime, stime
}

/**
 * utime + stime of one thread of a process (default its main thread), in clock ticks:
 * without V8's background compiler and GC helper threads, whose share varies run to run.
 */
export function threadTicks(pid: number, tid = pid): number {
  const fields = statFields(pid, `/proc/${pid}/task/${tid}/stat`);
  return Number(fields[11]) + Number(fields[12]);
}

/** utime + stime of the calling thread (in a `Worker`, the worker's), in clock ticks. */
export function ownThreadTicks(): number {
  const fields = statFields(0, "/proc/thread-self/stat");
  return Number(fields[11]) + Number(fields[12]);
}

/**
 * utime and stime of every thread of a process, in clock ticks, summed by role: `main` (the
 * thread whose id is the process's), `workers` (Deno's `Worker` threads, named `worker-N`),
 * `v8` (V8's platform threads: GC helpers, concurrent compiling) and `other` (tokio, ...).
 */
export function threadTicksByRole(
  pid: number,
): Record<"main" | "workers" | "v8" | "other", { user: number; system: number }> {
  const sums = {
    main: { user: 0, system: 0 },
    workers: { user: 0, system: 0 },
    v8: { user: 0, system: 0 },
    other: { user: 0, system: 0 },
  };
  for (const e of Deno.readDirSync(`/proc/${pid}/task`)) {
    const tid = Number(e.name);
    try {
      const name = Deno.readTextFileSync(`/proc/${pid}/task/${tid}/comm`).trim();
      const role = tid === pid
        ? "main"
        : name.startsWith("worker-")
        ? "workers"
        : name.startsWith("V8 ")
        ? "v8"
        : "other";
      const fields = statFields(pid, `/proc/${pid}/task/${tid}/stat`);
      sums[role].user += Number(fields[11]);
      sums[role].system += Number(fields[12]);
    } catch { /* the thread ended */ }
  }
  return sums;
}

/** Pids of the process group led by `pid` (just `pid` when none is found). */
export function groupPids(pid: number): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      if (Number(statFields(Number(e.name))[2]) === pid) pids.push(Number(e.name)); // field 5: pgrp
    } catch { /* exited */ }
  }
  return pids.length ? pids : [pid];
}

/** utime + stime of the group led by `pid`, in clock ticks. */
export function groupTicks(pid: number): number {
  let ticks = 0;
  for (const p of groupPids(pid)) {
    try {
      ticks += processTicks(p);
    } catch { /* exited */ }
  }
  return ticks;
}

/**
 * Nanoseconds every thread of the group led by `pid` has run, and has waited on a run queue
 * (runnable, no CPU free): /proc/PID/task/TID/schedstat. On a shared machine the second says
 * how much CPU a server wanted and did not get.
 */
export function groupSchedstat(pid: number): { runNs: number; waitNs: number } {
  let runNs = 0;
  let waitNs = 0;
  for (const p of groupPids(pid)) {
    try {
      for (const t of Deno.readDirSync(`/proc/${p}/task`)) {
        const [run, wait] = Deno.readTextFileSync(`/proc/${p}/task/${t.name}/schedstat`)
          .split(" ").map(Number);
        runNs += run;
        waitNs += wait;
      }
    } catch { /* exited */ }
  }
  return { runNs, waitNs };
}

/** A `Key:   N kB` field of a /proc file, in kB; 0 when absent or unreadable. */
export function kbField(path: string, key: string): number {
  try {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(Deno.readTextFileSync(path));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** A field of /proc/PID/status (VmRSS, VmHWM, ...), in kB. */
export const statusKb = (pid: number, key: string): number => kbField(`/proc/${pid}/status`, key);

/** kB → MB with one decimal. */
export const mb = (kb: number): number => Math.round(kb / 102.4) / 10;

/** Resident set size of one process (VmRSS), MB. */
export const rssMb = (pid: number): number => mb(statusKb(pid, "VmRSS"));

/** This process's CPU time so far (user + system, all threads), in µs. */
export function processCpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}
