/**
 * @module What every transaction shares with the layer that owns it (the context), the
 * states of the four RFC 3261 §17 machines with their legal transitions, and the error
 * a transition the RFC does not allow throws. One guarded `transition` per machine is the
 * only way a transaction changes state.
 */
import type { Logger } from "../log.ts";
import type { Flow, MessageSender } from "../transport/types.ts";
import type { LingerQueue } from "./linger.ts";
import type { Scheduler, TimerValues } from "./timers.ts";

/** One queue per fixed-delay end of a final state (linger.ts), by timer name. */
export interface LingerQueues {
  /** INVITE server: Accepted (RFC 6026 Timer L), Completed (H), Confirmed (I). */
  readonly l: LingerQueue;
  readonly h: LingerQueue;
  readonly i: LingerQueue;
  /** INVITE client: Accepted (RFC 6026 Timer M), Completed (D); non-INVITE client: K. */
  readonly m: LingerQueue;
  readonly d: LingerQueue;
  readonly k: LingerQueue;
}

/** A matching-table entry: a transaction, or what is left of one after its final. */
export interface Keyed {
  readonly key: string;
  readonly side: "server" | "client";
}

/** What every transaction needs from the layer that owns it. */
export interface TransactionContext {
  readonly sender: MessageSender;
  readonly scheduler: Scheduler;
  readonly timers: TimerValues;
  readonly log: Logger;
  /** Runs a TU callback; logs (never rethrows) what it throws. Returns false if it threw. */
  guard(what: string, fn: () => void): boolean;
  /** The fixed-delay ends of final states. */
  readonly linger: LingerQueues;
  /** The transaction reached Terminated: drop it from the matching tables. */
  forget(tx: Keyed): void;
  /** `tx` reached its final: `rest`, what is left of it, takes its place in the tables. */
  replace(tx: Keyed, rest: Keyed): void;
  /**
   * A non-INVITE server transaction completed over an unreliable flow: the layer keeps its
   * key and the bytes of `final` to answer retransmissions for Timer J (64·T1).
   */
  keepCompleted(key: string, status: number, final: Uint8Array, flow: Flow): void;
}

/** A transition the state machine does not allow (a TU bug, or ours). */
export class TransactionStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TransactionStateError";
  }
}

export type ServerTransactionState =
  | "Trying"
  | "Proceeding"
  | "Completed"
  | "Confirmed"
  | "Accepted"
  | "Terminated";

export type ClientTransactionState =
  | "Calling"
  | "Trying"
  | "Proceeding"
  | "Completed"
  | "Accepted"
  | "Terminated";

/** Legal next states per state; every state but Terminated may also end (errors, shutdown). */
type Table<S extends string> = Readonly<Record<S, readonly S[]>>;

/** §17.2.1 (Figure 7) with RFC 6026 §7.1: a 2xx moves Proceeding → Accepted. */
export const INVITE_SERVER: Table<ServerTransactionState> = {
  Trying: [],
  Proceeding: ["Accepted", "Completed"],
  Completed: ["Confirmed"],
  Confirmed: [],
  Accepted: [],
  Terminated: [],
};

/** §17.2.2 (Figure 8): provisionals keep Proceeding, a final completes. */
export const NON_INVITE_SERVER: Table<ServerTransactionState> = {
  Trying: ["Proceeding", "Completed"],
  Proceeding: ["Proceeding", "Completed"],
  Completed: [],
  Confirmed: [],
  Accepted: [],
  Terminated: [],
};

/** §17.1.1 (Figure 5) with RFC 6026 §7.2: a 2xx moves Calling/Proceeding → Accepted. */
export const INVITE_CLIENT: Table<ClientTransactionState> = {
  Calling: ["Proceeding", "Accepted", "Completed"],
  Trying: [],
  Proceeding: ["Accepted", "Completed"],
  Completed: [],
  Accepted: [],
  Terminated: [],
};

/** §17.1.2 (Figure 6). */
export const NON_INVITE_CLIENT: Table<ClientTransactionState> = {
  Calling: [],
  Trying: ["Proceeding", "Completed"],
  Proceeding: ["Proceeding", "Completed"],
  Completed: [],
  Accepted: [],
  Terminated: [],
};

/**
 * The state after `from` → `to` in `table`, or a TransactionStateError naming the machine
 * (`method` and `side`, joined only then: no string per transition) when the RFC has no such
 * arrow. Any state but Terminated may go to Terminated.
 */
export function transition<S extends string>(
  method: string,
  side: "server" | "client",
  table: Table<S>,
  from: S,
  to: S,
): S {
  if (to === "Terminated" ? from !== "Terminated" : table[from].includes(to)) return to;
  throw new TransactionStateError(`${method} ${side}: no transition ${from} → ${to}`);
}
