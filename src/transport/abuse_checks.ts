/**
 * @module Applies the abuse guard (abuse_guard.ts) where the transport layer reads: a message
 * from a banned source is dropped and one over the rate limit refused with 503 before any
 * parsing; a new connection is refused past a ban or a connection cap. Counts and logs
 * (rate-limited) each refusal.
 */
import { buildBadRequest } from "../sip/bad_request.ts";
import type { SipMessage } from "../sip/message.ts";
import type { Counters } from "../events.ts";
import { Logger } from "../log.ts";
import { type AbuseGuard, DROP_BANNED, PASS, REFUSE_RATE } from "./abuse_guard.ts";
import type { Flow, TransportName } from "./types.ts";

const log = new Logger("transport");

export interface AbuseCheckHooks {
  counters: Counters;
  /** Sends a refusal back on the flow it answers. */
  reply: (message: SipMessage, flow: Flow) => void;
  /** Closes this worker's connection of a flow, if it holds one. */
  closeFlow: (flowId: string) => void;
}

export class AbuseChecks {
  readonly #guard: AbuseGuard;
  readonly #hooks: AbuseCheckHooks;

  constructor(guard: AbuseGuard, hooks: AbuseCheckHooks) {
    this.#guard = guard;
    this.#hooks = hooks;
  }

  /** True when the message may go on; else it was dropped or refused here. */
  message(bytes: Uint8Array, flow: Flow, receivedAt: number): boolean {
    const guard = this.#guard;
    const verdict = guard.checkMessage(
      flow.remote.host,
      flow.reliable ? flow.id : undefined,
      isRequest(bytes),
      receivedAt,
    );
    if (verdict === PASS) return true;
    this.#refuse(verdict, bytes, flow);
    return false;
  }

  /** Shed before parsing: banned → dropped (its connection closed), over the rate → 503. */
  #refuse(verdict: number, bytes: Uint8Array, flow: Flow): void {
    const { counters } = this.#hooks;
    const guard = this.#guard;
    if (verdict === DROP_BANNED) {
      counters.inc("sip_dropped_total", { reason: "banned" });
      this.#hooks.closeFlow(flow.id);
      return;
    }
    const host = flow.remote.host;
    counters.inc("rate_limited_total");
    if (guard.shouldReport(`rate ${host}`)) {
      log.warn(
        `rate limit: ${host} sends more than ${guard.options.rateLimit} requests/s; ` +
          `refusing the excess with 503 (dropping beyond twice the limit)`,
      );
    }
    if (verdict !== REFUSE_RATE) return;
    const refusal = buildBadRequest(bytes, "Service Unavailable", 503);
    if (!refusal) return;
    refusal.append("Retry-After", String(guard.retryAfter(host)));
    this.#hooks.reply(refusal, flow);
  }

  /** Whether to accept a new connection from `host` (bans and connection caps). */
  connection(host: string, transport: TransportName): boolean {
    const guard = this.#guard;
    const verdict = guard.admitConnection(host);
    if (verdict === "ok") return true;
    this.#hooks.counters.inc("connections_refused_total", { reason: verdict, transport });
    if (verdict !== "banned" && guard.shouldReport(`${verdict} ${host}`)) {
      const o = guard.options;
      log.warn(
        verdict === "source_cap"
          ? `connection cap: ${host} already has ${o.maxConnectionsPerSource} connections; refusing more`
          : `connection cap: ${o.maxConnections} connections open; refusing ${host}`,
      );
    }
    return false;
  }
}

/** A response starts `SIP/`; anything else counts as a request for the rate limit. */
function isRequest(bytes: Uint8Array): boolean {
  return !(bytes[0] === 83 && bytes[1] === 73 && bytes[2] === 80 && bytes[3] === 47);
}
