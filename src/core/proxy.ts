/**
 * @module The stateful proxy (RFC 3261 §16): request validation for proxying (§16.3:
 * Max-Forwards 483, loop 482, Proxy-Require 420), proxy authentication of local callers
 * (407, From must be the authenticated user, 403), loose routing (§16.4: our Route entries
 * are popped and their flow tokens say which connection leads on), target selection
 * (location service for served domains: 404 unknown user, 480 no live binding; 403 for
 * other domains unless allowed), Record-Route (one entry, two when the transport changes),
 * Via, and the stateless forwarding of ACK for 2xx and of stray 2xx responses. Browser
 * contacts (`*.invalid`) are reached only through their flow, never resolved. Target
 * selection lives in proxy_targets.ts, forking and response selection in proxy_context.ts.
 *
 * Policy: INVITE, MESSAGE and SUBSCRIBE outside a dialog whose From names a served domain
 * are challenged (407); requests from other domains to our users pass unchallenged (a
 * phone or trunk elsewhere may call us), while requests from other domains to other
 * domains are refused (we are no open relay) unless `allow_foreign_domains`.
 */
import { Logger } from "../log.ts";
import { SipError } from "../sip/errors.ts";
import type { SipRequest, SipResponse } from "../sip/message.ts";
import { parseNameAddr } from "../sip/name_addr.ts";
import { formatHost, parseUri, type SipUri } from "../sip/uri.ts";
import { parseVia } from "../sip/via.ts";
import type { TransactionLayer } from "../transaction/layer.ts";
import { hasTag, tagParam } from "../sip/tag.ts";
import type { Address, Flow, Target, TransportName } from "../transport/types.ts";
import { authenticate, type ChallengeDeps } from "./challenge.ts";
import { RELAY_TOKEN } from "./cluster_view.ts";
import type { DialogTracker } from "./dialogs.ts";
import { type ContextDeps, ProxyContext } from "./proxy_context.ts";
import { type Hop, type TargetDeps, TargetResolver } from "./proxy_targets.ts";
import {
  BRANCH_PREFIX,
  FlowTokens,
  isLoop,
  loopHash,
  newProxyBranch,
  parsedVia,
  recordRouteEntry,
  type RecordRouteParams,
  recordRouteValue,
  statelessBranch,
  viaValue,
} from "./record_route.ts";
import { errorResponse, type RequestForwarder, type Responder } from "./router.ts";

const log = new Logger("proxy");

export type { ProxyTransport } from "./proxy_targets.ts";

export interface ProxyDeps extends ChallengeDeps, TargetDeps {
  transactions: Pick<TransactionLayer, "sendRequest" | "sendStateless" | "scheduler">;
  dialogs?: DialogTracker;
  tokens?: FlowTokens;
  /** Inbound call control: may take an initial INVITE before it is routed. */
  inbound?: InboundControl;
}

/**
 * Offered every authenticated initial INVITE; returns true when it takes the request
 * over, and later either answers it itself or calls `resume` (optionally retargeted to
 * another user of the same domain) to route it as usual.
 */
export interface InboundControl {
  offer(
    request: SipRequest,
    uri: SipUri,
    flow: Flow,
    tx: Responder,
    resume: (to?: string) => void,
  ): boolean;
}

/** Methods a local user must authenticate outside a dialog (the proxy policy above). */
const CHALLENGED = new Set(["INVITE", "MESSAGE", "SUBSCRIBE"]);
/** Requests that may create a dialog: we Record-Route them (§16.6 item 4). */
const DIALOG_CREATING = new Set(["INVITE", "SUBSCRIBE", "REFER", "NOTIFY"]);
/** Via param naming the upstream flow, so a stray 2xx can find its way (RFC 6026 §8.3). */
const UPSTREAM_PARAM = "swf";

export class Proxy implements RequestForwarder {
  #deps: ProxyDeps;
  #tokens: FlowTokens;
  #resolver: TargetResolver;
  #contexts = new Set<ProxyContext>();
  /** Not a closure of `#route`: one there would keep that call's request alive (V8 scope). */
  readonly #forgetContext = (c: ProxyContext) => void this.#contexts.delete(c);
  #sharedDeps: { config: object; deps: ContextDeps } | undefined;

  constructor(deps: ProxyDeps) {
    this.#deps = { ...deps };
    this.#tokens = deps.tokens ?? new FlowTokens();
    this.#resolver = new TargetResolver(deps, this.#tokens);
  }

  /** Plugs in inbound call control (built after the proxy, which it routes through). */
  set inbound(inbound: InboundControl) {
    this.#deps.inbound = inbound;
  }

  /** Live proxied transactions (metrics, tests). */
  get pending(): number {
    return this.#contexts.size;
  }

  /** Stops Timer C and friends (server shutdown). */
  close(): void {
    for (const c of this.#contexts) c.close();
    this.#contexts.clear();
  }

  forward(request: SipRequest, uri: SipUri, flow: Flow, tx: Responder | undefined): void {
    if (request.method === "ACK" || !tx) {
      this.#forwardStateless(request);
      return;
    }
    // §16.3 item 3: Max-Forwards 0 ends here.
    const maxForwards = request.maxForwards ?? 70;
    if (maxForwards === 0) throw new SipError(483, "Too Many Hops");
    // §16.3 item 5: we implement no proxy extension.
    if (request.has("proxy-require")) {
      const proxyRequire = request.getAll("proxy-require").map((t) => t.trim()).filter(Boolean);
      if (proxyRequire.length > 0) {
        throw new SipError(420, "Bad Extension", [["Unsupported", proxyRequire.join(", ")]]);
      }
    }
    // §16.3 item 4 / RFC 5393: our own branch with this request's hash means a loop.
    if (isLoop(request, () => loopHash(request), this.#isOurSentBy)) {
      throw new SipError(482, "Loop Detected");
    }

    const inDialog = hasTag(request.get("to"));
    if (!inDialog && CHALLENGED.has(request.method) && !this.#authorize(request, flow, tx)) return;
    const inbound = this.#deps.inbound;
    if (
      !inDialog && request.method === "INVITE" && inbound &&
      inbound.offer(request, uri, flow, tx, (to) => this.#resume(request, uri, flow, tx, to))
    ) {
      return;
    }
    this.#route(request, uri, flow, tx, maxForwards, inDialog);
  }

  /** Hops of a user of ours, one per live binding (404 unknown, 480 none live). */
  bindingHops(uri: SipUri): Hop[] {
    return this.#resolver.lookup(uri);
  }

  /** Routes a request inbound call control gave back, answering what routing throws. */
  #resume(request: SipRequest, uri: SipUri, flow: Flow, tx: Responder, to?: string): void {
    try {
      if (to !== undefined) {
        request.uri = to.includes("@") ? `sip:${to}` : `sip:${to}@${formatHost(uri.host)}`;
        uri = parseUri(request.uri);
      }
      const maxForwards = request.maxForwards ?? 70;
      this.#route(request, uri, flow, tx, maxForwards, false);
    } catch (error) {
      tx.respond(errorResponse(request, error, this.#deps.counters));
    }
  }

  #route(
    request: SipRequest,
    uri: SipUri,
    flow: Flow,
    tx: Responder,
    maxForwards: number,
    inDialog: boolean,
  ): void {
    // Before our Route entries go: the hash covers the request as it reached us.
    const hash = loopHash(request);
    const popped = this.#resolver.popOurRoutes(request);
    const hops = this.#resolver.targets(request, uri, popped, inDialog);
    if (request.method === "INVITE" && !inDialog) this.#deps.dialogs?.invite(request, flow);
    if (request.method === "BYE") this.#deps.dialogs?.ended(request);

    const context = new ProxyContext(this.#contextDeps(), request, tx, flow);
    this.#contexts.add(context);
    tx.listenForCancel(() => {
      this.#deps.dialogs?.ended(request);
      context.cancel();
    });
    const recordRoute = !inDialog && DIALOG_CREATING.has(request.method);
    let started = 0;
    for (const hop of hops) {
      const branch = this.#branchRequest(request, hop, flow, maxForwards - 1, hash, recordRoute);
      if (!branch) continue;
      context.addBranch(branch, hop.target);
      started++;
    }
    if (started === 0) {
      this.#contexts.delete(context);
      throw new SipError(480, "Temporarily Unavailable");
    }
  }

  /** What every context needs: one object per config, not one per request (it lives 64·T1). */
  #contextDeps(): ContextDeps {
    const config = this.#deps.config().sip;
    if (this.#sharedDeps?.config !== config) {
      this.#sharedDeps = {
        config,
        deps: {
          transactions: this.#deps.transactions,
          scheduler: this.#deps.transactions.scheduler,
          timerC: config.timerC,
          cancelGrace: 64 * config.t1,
          dialogs: this.#deps.dialogs,
          onDone: this.#forgetContext,
        },
      };
    }
    return this.#sharedDeps.deps;
  }

  /**
   * RFC 6026 §8.3 / §16.11: a 2xx matching no client transaction (its INVITE client
   * transaction ended) still goes upstream, found by the flow token in our Via.
   */
  forwardStray(response: SipResponse): void {
    if (response.status < 200 || response.status >= 300 || response.cseq.method !== "INVITE") {
      return;
    }
    const top = response.getAll("via")[0];
    if (!top) return;
    const via = parseVia(top);
    if (!(via.params.get("branch") ?? "").startsWith(BRANCH_PREFIX)) return;
    const token = via.params.get(UPSTREAM_PARAM);
    const target = token ? this.#resolver.tokenTarget(token) : undefined;
    if (!target) return;
    const out = response.clone();
    out.shift("via");
    if (!out.has("via")) return;
    this.#deps.transactions.sendStateless(out, target).catch((e) => log.debug(`stray 2xx: ${e}`));
  }

  // --- authentication ---

  /** Challenges a local caller; false when a response was sent instead of proxying. */
  #authorize(request: SipRequest, flow: Flow, tx: Responder): boolean {
    const from = request.from.uri;
    if (!this.#resolver.servesDomain(from.host)) return true;
    // Another node of the cluster authenticated the caller and relays to a flow of ours.
    if (this.#relayedByPeer(request, flow)) return true;
    const auth = authenticate(this.#deps, request, from.host, "proxy", flow);
    if ("response" in auth) {
      tx.respond(auth.response);
      return false;
    }
    if (auth.user !== from.user) throw new SipError(403, "Forbidden: From Is Not You");
    // §22.3: our own credentials are consumed here, not passed downstream.
    request.headers = request.headers.filter((h) =>
      h.key !== "proxy-authorization" || !realmOf(h.value, from.host)
    );
    return true;
  }

  #relayedByPeer(request: SipRequest, flow: Flow): boolean {
    const cluster = this.#deps.cluster;
    const route = request.getAll("route")[0];
    if (!cluster || route === undefined || !cluster.isPeer(flow.remote.host)) return false;
    try {
      return parseNameAddr(route).uri.params.has(RELAY_TOKEN);
    } catch {
      return false;
    }
  }

  /** A Via sent-by naming us: one of our hosts and a port we listen on. */
  readonly #isOurSentBy = (host: string, port: number | undefined): boolean => {
    const p = port ?? 5060;
    return this.#deps.isLocalHost(host) &&
      this.#deps.transport.listening().some((l) => l.local.port === p);
  };

  // --- building the forwarded request (§16.6) ---

  #branchRequest(
    request: SipRequest,
    hop: Hop,
    inFlow: Flow,
    maxForwards: number,
    hash: string,
    recordRoute: boolean,
  ): SipRequest | undefined {
    const outTransport = "flow" in hop.target ? hop.target.flow.transport : hop.target.transport;
    const remoteHost = "flow" in hop.target ? hop.target.flow.remote.host : hop.target.host;
    const local = this.#deps.transport.localAddress(outTransport, remoteHost);
    if (!local) {
      log.debug(`no ${outTransport} listener to reach ${hop.uri}`);
      return undefined;
    }
    const out = request.clone();
    out.uri = hop.uri; // §16.6 item 2
    out.set("max-forwards", String(maxForwards)); // item 3
    if (recordRoute) this.#addRecordRoute(out, request, inFlow, hop.target, outTransport, local);
    // RFC 3327: a binding's Path becomes the route to it.
    if (hop.path && hop.path.length > 0) {
      for (const p of [...hop.path].reverse()) out.prepend("Route", p);
    }
    // §16.6 item 8: our Via, with a branch that carries the loop hash; its parse goes with
    // it, so the client transaction's key does not parse what we just wrote.
    const branch = newProxyBranch(hash);
    const rport = outTransport === "udp";
    const upstream = this.#tokens.encode(inFlow);
    const via = `${viaValue(outTransport, local, branch, rport)};${UPSTREAM_PARAM}=${upstream}`;
    out.prepend("Via", via);
    out.replaceTopVia(
      out.headers.find((h) => h.key === "via")!,
      parsedVia(outTransport, local, branch, rport, [UPSTREAM_PARAM, upstream]),
      via,
    );
    return out;
  }

  /**
   * §16.6 item 4 with flow tokens: one Record-Route when both legs use the same transport
   * and address, else two (outgoing leg on top), like a multi-homed proxy. Each entry
   * names the caller's and the callee's flows and the caller's From tag (direction).
   */
  #addRecordRoute(
    out: SipRequest,
    request: SipRequest,
    inFlow: Flow,
    target: Target,
    outTransport: TransportName,
    outLocal: Address,
  ): void {
    const inLocal = this.#deps.transport.localAddress(inFlow.transport, inFlow.remote.host) ??
      inFlow.local;
    const params = {
      ftag: tagParam(request.get("from") ?? ""),
      caller: this.#tokens.encode(inFlow),
      callee: "flow" in target
        ? this.#tokens.encode(target.flow)
        : target.transport === "udp"
        ? this.#tokens.encodeUdp(target)
        : undefined,
    };
    const same = inFlow.transport === outTransport && inLocal.host === outLocal.host &&
      inLocal.port === outLocal.port;
    this.#recordRoute(out, inLocal, inFlow.transport, params);
    if (!same) this.#recordRoute(out, outLocal, outTransport, params);
  }

  /** Prepends one Record-Route, its parse kept for the dialog's requests that bring it back. */
  #recordRoute(
    out: SipRequest,
    local: Address,
    transport: TransportName,
    params: RecordRouteParams,
  ): void {
    const value = recordRouteValue(local.host, local.port, transport, params);
    out.prepend("Record-Route", value);
    const route = recordRouteEntry(local, params);
    if (route) this.#resolver.rememberOurRoute(value, route);
  }

  // --- stateless forwarding (ACK for 2xx) ---

  #forwardStateless(request: SipRequest): void {
    try {
      const maxForwards = request.maxForwards ?? 70;
      if (maxForwards === 0) return;
      const popped = this.#resolver.popOurRoutes(request);
      const inDialog = hasTag(request.get("to"));
      const [hop] = this.#resolver.targets(request, parseUri(request.uri), popped, inDialog);
      const outTransport = "flow" in hop.target ? hop.target.flow.transport : hop.target.transport;
      const remoteHost = "flow" in hop.target ? hop.target.flow.remote.host : hop.target.host;
      const local = this.#deps.transport.localAddress(outTransport, remoteHost);
      if (!local) return;
      const out = request.clone();
      out.uri = hop.uri;
      out.set("max-forwards", String(maxForwards - 1));
      out.prepend(
        "Via",
        viaValue(outTransport, local, statelessBranch(request), outTransport === "udp"),
      );
      this.#deps.transactions.sendStateless(out, hop.target).catch((e) => {
        log.debug(`${request.method} not forwarded: ${e}`);
      });
    } catch (error) {
      // Never answer an ACK (§17.1.1.3): log and drop.
      log.debug(`${request.method} dropped: ${error instanceof Error ? error.message : error}`);
    }
  }
}

function realmOf(credentials: string, realm: string): boolean {
  const m = /realm\s*=\s*"([^"]*)"/i.exec(credentials);
  return !m || m[1].toLowerCase() === realm.toLowerCase();
}
