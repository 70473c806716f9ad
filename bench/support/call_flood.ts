/**
 * @module The cheap call generator (bench/loadgen/call_flood.c): one C process that is both
 * the caller (INVITE, 407, ACK, INVITE with Proxy-Authorization, ACK, BYE) and the callee
 * (REGISTERed at the server, answering 180 and 200) of every call over UDP, for loads where
 * sipp's UAC and UAS would take much of the second core (bench/workers_calls.ts). Compiled
 * on demand like register_flood (bench/support/register_flood.ts). Not part of the product.
 */
import { runLoadgen } from "./register_flood.ts";

/** What the generator prints: one JSON line (see call_flood.c). */
export interface CallFloodReport {
  offered: number;
  started: number;
  /** Calls whose BYE got its 200. */
  completed: number;
  failed: number;
  /** Failed with a 503 (the server shedding load). */
  shed: number;
  /** Failed for want of an answer (retransmissions exhausted, or --call-timeout). */
  timeouts: number;
  unfinished: number;
  /** The caller's retransmitted requests. */
  retransmits: number;
  /** Messages that matched no open transaction (answers to retransmissions). */
  stray: number;
  datagramsSent: number;
  /** INVITEs the callee side received (first copies), and repeats it answered again. */
  uasInvites: number;
  uasRepeats: number;
  /** The callee's retransmitted 200s, and calls whose 200 never got its ACK. */
  uasRetransmits: number;
  uasTimeouts: number;
  /** Call duration (first INVITE sent -> BYE's 200 read), ms. */
  p50Ms: number;
  p99Ms: number;
  /** Seconds from the first call to the last that ended. */
  lastEndS: number;
  wallS: number;
  /** Completed calls over lastEndS. */
  callsPerSec: number;
  /** The generator's CPU (user + system) over the calls, s, and per completed call, µs. */
  cpuS: number;
  cpuUsPerCall: number;
  /** The final status of the callee's un-REGISTER at the end. */
  unregister: number;
  uasPort: number;
  /** Final answers that moved a call on, by status code. */
  statuses: Record<string, number>;
}

export interface CallFloodOptions {
  /** Calls started per second (with `concurrency`, only a bound on how many start). */
  rate: number;
  /** A closed loop instead: this many calls in flight. */
  concurrency?: number;
  /** Caller source ports the calls are spread over (default 8). */
  sockets?: number;
  seconds: number;
  /** Seconds to wait after the offer for the calls still open (default 10). */
  drainS?: number;
  /** The callee's (UAS) port; default any free one. */
  uasPort?: number;
  caller: { user: string; password: string; domain: string };
  callee: { user: string; password: string };
  /** Called with the generator's pid once spawned (e.g. to set its priority). */
  started?: (pid: number) => void;
}

/** Runs the generator against 127.0.0.1:`port`; bounded by seconds + drain + 15 s. */
export function runCallFlood(port: number, o: CallFloodOptions): Promise<CallFloodReport> {
  const drainS = o.drainS ?? 10;
  // Two REGISTERs of up to 8 × 500 ms each besides the calls.
  return runLoadgen<CallFloodReport>("call_flood", o.seconds + drainS + 15, o.started, [
    `--target=127.0.0.1:${port}`,
    `--rate=${o.rate}`,
    `--seconds=${o.seconds}`,
    `--drain=${drainS}`,
    `--user=${o.caller.user}`,
    `--password=${o.caller.password}`,
    `--domain=${o.caller.domain}`,
    `--callee=${o.callee.user}`,
    `--callee-password=${o.callee.password}`,
    `--sockets=${o.sockets ?? 8}`,
    `--concurrency=${o.concurrency ?? 0}`,
    `--uas-port=${o.uasPort ?? 0}`,
  ]);
}
