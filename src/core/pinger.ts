/**
 * @module OPTIONS pings to registered contacts (keep-alive and liveness): every
 * `config.ping.interval` seconds each binding gets one OPTIONS on the flow it registered
 * on (through its Path, if any) unless its previous ping is still pending. Any response
 * resets the binding's `outstandingPings`; a timeout or transport error adds a miss, and
 * after `config.ping.maxMisses` consecutive misses the binding is removed with cause
 * `ping_failed` (the location service tells subscribers, e.g. the control callbacks). It
 * sends through the transaction layer and never answers or parses anything itself.
 */
import type { Config } from "../config/config.ts";
import type { Counters } from "../events.ts";
import { Logger } from "../log.ts";
import { newTag, randomToken } from "../sip/ids.ts";
import { SipRequest } from "../sip/message.ts";
import { formatHost } from "../sip/uri.ts";
import { newBranch, type TransactionLayer } from "../transaction/layer.ts";
import type { Address, TransportName } from "../transport/types.ts";
import type { Binding, LocationService } from "./location.ts";

/** What the pinger needs from the server (a `Server` is one). */
export interface PingerDeps {
  readonly config: Config;
  readonly location: LocationService;
  readonly transactions: Pick<TransactionLayer, "sendRequest">;
  readonly transport: {
    localAddress(transport: TransportName, remoteHost?: string): Address | undefined;
  };
  readonly counters: Counters;
}

export interface Pinger {
  /** Pings every binding now (the timer calls this). */
  pingAll(): void;
  /** Bindings whose ping is pending. */
  readonly inFlight: number;
  close(): void;
}

const log = new Logger("pinger");

/** Builds the OPTIONS for one binding (RFC 3261 §11: OPTIONS to the registered contact). */
export function buildPing(deps: PingerDeps, b: Binding, cseq: number): SipRequest {
  const flow = b.flow;
  const local = deps.transport.localAddress(flow.transport, flow.remote.host) ?? flow.local;
  const request = new SipRequest("OPTIONS", b.contact);
  request.append(
    "Via",
    `SIP/2.0/${flow.transport.toUpperCase()} ${
      formatHost(local.host)
    }:${local.port};branch=${newBranch()};rport`,
  );
  request.append("Max-Forwards", "70");
  // RFC 3327 §5: requests to a contact registered through proxies follow its Path.
  for (const p of b.path) request.append("Route", p);
  request.append(
    "From",
    `<sip:${deps.config.sip.userAgent}@${formatHost(b.domain)}>;tag=${newTag()}`,
  );
  request.append("To", `<sip:${b.user}@${formatHost(b.domain)}>`);
  request.append("Call-ID", `${randomToken(16)}@${formatHost(local.host)}`);
  request.append("CSeq", `${cseq} OPTIONS`);
  request.append("User-Agent", deps.config.sip.userAgent);
  return request;
}

/** Starts pinging when `config.ping.interval` > 0; the returned pinger stops with close(). */
export function startPinger(deps: PingerDeps): Pinger {
  const inFlight = new Set<Binding>();
  let cseq = 1;
  let closed = false;

  const miss = (b: Binding, why: string) => {
    inFlight.delete(b);
    if (closed) return;
    b.outstandingPings++;
    deps.counters.inc("ping_misses_total", { transport: b.flow.transport });
    log.debug(`ping to ${b.aor} (${b.contact}) missed (${why}): ${b.outstandingPings}`);
    if (b.outstandingPings >= deps.config.ping.maxMisses) {
      if (deps.location.remove(b, "ping_failed")) {
        log.info(`${b.aor} ${b.contact} removed after ${b.outstandingPings} missed pings`);
      }
    }
  };

  const ping = (b: Binding) => {
    if (inFlight.has(b)) return;
    inFlight.add(b);
    deps.counters.inc("pings_sent_total", { transport: b.flow.transport });
    let settled = false;
    const settle = () => {
      const first = !settled;
      settled = true;
      return first;
    };
    try {
      deps.transactions.sendRequest(buildPing(deps, b, cseq++), { flow: b.flow }, {
        onResponse: (response) => {
          if (response.status < 200 || !settle()) return;
          inFlight.delete(b);
          b.outstandingPings = 0;
        },
        onTimeout: () => settle() && miss(b, "timeout"),
        onTransportError: (error) => settle() && miss(b, error.message),
      });
    } catch (error) {
      if (settle()) miss(b, String(error));
    }
  };

  const pingAll = () => {
    if (closed) return;
    for (const b of deps.location.all()) ping(b);
  };

  const seconds = deps.config.ping.interval;
  const timer = seconds > 0 ? setInterval(pingAll, seconds * 1000) : undefined;
  return {
    pingAll,
    get inFlight() {
      return inFlight.size;
    },
    close() {
      closed = true;
      if (timer !== undefined) clearInterval(timer);
    },
  };
}
