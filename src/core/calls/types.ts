/**
 * @module The vocabulary of calls driven over HTTP: the events a call reports
 * to its control server (`trying`, `ringing`, `answered`, `failed`, `ended`), the error
 * the call-control part throws for the API to turn into a status, and what a call needs
 * from the rest of the server. Types, one error class and the one way a call reports its end.
 */
import type { Config } from "../../config/config.ts";
import type { TransactionLayer } from "../../transaction/layer.ts";
import type { ProxyTransport } from "../proxy_targets.ts";

export type { CallEvent } from "../../events.ts";
import type { CallEvent } from "../../events.ts";

/** A refusal of an API call-control request, mapped to an HTTP status by the API. */
export class CallError extends Error {
  readonly status: 400 | 404 | 409 | 503;
  readonly field?: string;
  /** The call the refusal is about, when one was created (e.g. 409 for "not registered"). */
  readonly callId?: string;
  constructor(status: CallError["status"], message: string, field?: string, callId?: string) {
    super(message);
    this.name = "CallError";
    this.status = status;
    this.field = field;
    this.callId = callId;
  }
}

/** What a call needs to send and time its SIP messages. */
export interface CallDeps {
  /** Sends, and times the calls on the transaction layer's timer wheel. */
  transactions: Pick<TransactionLayer, "sendRequest" | "sendStateless" | "scheduler">;
  transport: ProxyTransport;
  config: () => Config;
  now: () => number;
}

/** How a call tells its owner what happened. */
export interface CallSink {
  /** A progress event for the control server, the dialog list and the dashboard. */
  report(callId: string, event: Omit<CallEvent, "at">): void;
  /** The call's legs or state changed (dialog list). */
  changed(callId: string): void;
  /** The call is over and may be forgotten. */
  finished(callId: string): void;
}

/** Tells the owner a call is over: its last event (`failed` or `ended`), then `finished`. */
export function reportEnd(
  sink: CallSink,
  callId: string,
  event: "failed" | "ended",
  code: number | undefined,
  reason: string,
): void {
  sink.report(callId, { event, ...(code !== undefined ? { code } : {}), reason });
  sink.finished(callId);
}
