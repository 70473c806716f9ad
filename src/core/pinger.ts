/**
 * @module OPTIONS pings to registered contacts (keep-alive and liveness): every
 * `config.ping.interval` seconds each binding gets one OPTIONS on the flow it registered
 * on, or at its Contact once a kept TCP/TLS binding's connection is gone (through its
 * Path, if any), unless its previous ping is still pending. Any response
 * resets the binding's `outstandingPings` (saved through the location store, never by
 * mutating a binding); a timeout or transport error adds a miss, and
 * after `config.ping.maxMisses` consecutive misses the binding is removed with cause
 * `ping_failed` (the location service tells subscribers, e.g. the control callbacks). It
 * sends through the transaction layer and never answers or parses anything itself. A
 * reload that changes the interval re-arms the timer (`reload()`).
 */
import type { Config } from "../config/config.ts";
import type { Counters } from "../events.ts";
import { Logger } from "../log.ts";
import { newCallId, newTag } from "../sip/ids.ts";
import { SipRequest } from "../sip/message.ts";
import { formatHost } from "../sip/uri.ts";
import { newBranch, type TransactionLayer } from "../transaction/layer.ts";
import type { Address, Flow, TransportName } from "../transport/types.ts";
import type { Binding, LocationStore } from "./binding.ts";
import { bindingTarget } from "./binding_reach.ts";
import { viaValue } from "./record_route.ts";

/** What the pinger needs from the server (a `Server` is one). */
export interface PingerDeps {
  readonly config: Config;
  readonly location: LocationStore;
  readonly transactions: Pick<TransactionLayer, "sendRequest">;
  readonly transport: {
    localAddress(transport: TransportName, remoteHost?: string): Address | undefined;
    /** The live connection of a stream flow of ours, if any. */
    connection(flowId: string): unknown | undefined;
    /** True when the flow lives in this process (another worker's is sent to it). */
    owns(flow: Flow): boolean;
  };
  readonly counters: Counters;
}

export interface Pinger {
  /** Pings every binding now (the timer calls this). */
  pingAll(): void;
  /** Bindings whose ping is pending. */
  readonly inFlight: number;
  /** Re-arms the timer when `config.ping.interval` changed (after a reload). */
  reload(): void;
  close(): void;
}

const log = new Logger("pinger");

/** Builds the OPTIONS for one binding (RFC 3261 §11: OPTIONS to the registered contact). */
export function buildPing(deps: PingerDeps, b: Binding, cseq: number): SipRequest {
  const flow = b.flow;
  const local = deps.transport.localAddress(flow.transport, flow.remote.host) ?? flow.local;
  const request = new SipRequest("OPTIONS", b.contact);
  request.append("Via", viaValue(flow.transport, local, newBranch(), true));
  request.append("Max-Forwards", "70");
  // RFC 3327 §5: requests to a contact registered through proxies follow its Path.
  for (const p of b.path) request.append("Route", p);
  request.append(
    "From",
    `<sip:${deps.config.sip.userAgent}@${formatHost(b.domain)}>;tag=${newTag()}`,
  );
  request.append("To", `<sip:${b.user}@${formatHost(b.domain)}>`);
  request.append("Call-ID", newCallId(formatHost(local.host)));
  request.append("CSeq", `${cseq} OPTIONS`);
  request.append("User-Agent", deps.config.sip.userAgent);
  return request;
}

/** Starts pinging when `config.ping.interval` > 0; the returned pinger stops with close(). */
export function startPinger(deps: PingerDeps): Pinger {
  /** Bindings ("aor NUL key") whose ping is pending. */
  const inFlight = new Set<string>();
  let cseq = 1;
  let closed = false;

  const record = (b: Binding, misses: number) => deps.location.setOutstandingPings(b, misses);

  const miss = (b: Binding, id: string, why: string) => {
    inFlight.delete(id);
    if (closed) return;
    // The binding as stored now: a refresh since the ping started replaced it (and the miss).
    const current = deps.location.get(b.aor, b.key);
    const updated = current && record(b, current.outstandingPings + 1);
    deps.counters.inc("ping_misses_total", { transport: b.flow.transport });
    if (!updated) return;
    log.debug(`ping to ${b.aor} (${b.contact}) missed (${why}): ${updated.outstandingPings}`);
    if (updated.outstandingPings >= deps.config.ping.maxMisses) {
      if (deps.location.remove(updated, "ping_failed")) {
        log.info(`${b.aor} ${b.contact} removed after ${updated.outstandingPings} missed pings`);
      }
    }
  };

  const ping = (b: Binding) => {
    const id = `${b.aor}\0${b.key}`;
    if (inFlight.has(id)) return;
    inFlight.add(id);
    deps.counters.inc("pings_sent_total", { transport: b.flow.transport });
    let settled = false;
    const settle = () => {
      const first = !settled;
      settled = true;
      return first;
    };
    // Our own stream flow that closed: a kept binding is pinged at its Contact.
    const gone = b.flow.transport !== "udp" && deps.transport.owns(b.flow) &&
      deps.transport.connection(b.flow.id) === undefined;
    const target = gone ? bindingTarget(b, false) : { flow: b.flow };
    if (!target) {
      if (settle()) miss(b, id, "its flow is gone");
      return;
    }
    try {
      deps.transactions.sendRequest(buildPing(deps, b, cseq++), target, {
        onResponse: (response) => {
          if (response.status < 200 || !settle()) return;
          inFlight.delete(id);
          const current = deps.location.get(b.aor, b.key);
          if (current && current.outstandingPings !== 0) record(b, 0);
        },
        onTimeout: () => settle() && miss(b, id, "timeout"),
        onTransportError: (error) => settle() && miss(b, id, error.message),
      });
    } catch (error) {
      if (settle()) miss(b, id, String(error));
    }
  };

  const pingAll = () => {
    if (closed) return;
    for (const b of deps.location.all()) ping(b);
  };

  let timer: ReturnType<typeof setInterval> | undefined;
  let armedSeconds = 0;
  const arm = () => {
    clearInterval(timer);
    armedSeconds = deps.config.ping.interval;
    timer = armedSeconds > 0 && !closed ? setInterval(pingAll, armedSeconds * 1000) : undefined;
  };
  arm();
  return {
    pingAll,
    get inFlight() {
      return inFlight.size;
    },
    reload() {
      if (deps.config.ping.interval !== armedSeconds) arm();
    },
    close() {
      closed = true;
      clearInterval(timer);
    },
  };
}
