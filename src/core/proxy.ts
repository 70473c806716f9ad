/**
 * @module The stateful proxy (RFC 3261 §16): request validation for proxying (§16.3:
 * Max-Forwards 483, loop 482, Proxy-Require 420), proxy authentication of local callers
 * (407, From must be the authenticated user, 403), loose routing (§16.4: our Route entries
 * are popped and their flow tokens say which connection leads on), target selection
 * (location service for served domains: 404 unknown user, 480 no live binding; 403 for
 * other domains unless allowed), Record-Route (one entry, two when the transport changes),
 * Via, and the stateless forwarding of ACK for 2xx and of stray 2xx responses. Browser
 * contacts (`*.invalid`) are reached only through their flow, never resolved. Forking and
 * response selection live in proxy_context.ts; it never parses transport bytes itself.
 *
 * Policy: INVITE, MESSAGE and SUBSCRIBE outside a dialog whose From names a served domain
 * are challenged (407); requests from other domains to our users pass unchallenged (a
 * phone or trunk elsewhere may call us), while requests from other domains to other
 * domains are refused (we are no open relay) unless `allow_foreign_domains`.
 */
import type { Config } from "../config/config.ts";
import { Logger } from "../log.ts";
import { SipError } from "../sip/errors.ts";
import { newTag } from "../sip/ids.ts";
import type { SipRequest, SipResponse } from "../sip/message.ts";
import { parseNameAddr, parseUri, parseVia, type SipUri } from "../sip/uri.ts";
import type { TransactionLayer } from "../transaction/layer.ts";
import { tagParam } from "../transaction/server.ts";
import type { Address, Flow, Target, TransportName } from "../transport/types.ts";
import { authenticate, type ChallengeDeps } from "./challenge.ts";
import type { DialogTracker } from "./dialogs.ts";
import type { Binding, LocationService } from "./location.ts";
import { ProxyContext } from "./proxy_context.ts";
import {
  BRANCH_PREFIX,
  FlowTokens,
  isLoop,
  loopHash,
  newProxyBranch,
  recordRouteValue,
  routeTokens,
  statelessBranch,
  viaTransport,
} from "./record_route.ts";
import type { RequestForwarder, Responder } from "./router.ts";

const log = new Logger("proxy");

/** What the proxy needs from the transport layer (TransportLayer fits). */
export interface ProxyTransport {
  localAddress(transport: TransportName, remoteHost?: string): Address | undefined;
  connection(flowId: string): { flow: Flow } | undefined;
  listening(): { transport: TransportName; local: Address }[];
}

export interface ProxyDeps extends ChallengeDeps {
  location: LocationService;
  transactions: Pick<TransactionLayer, "sendRequest" | "sendStateless">;
  transport: ProxyTransport;
  config: () => Config;
  /** True when a host names this server (served domain or one of our addresses). */
  isLocalHost: (host: string) => boolean;
  dialogs?: DialogTracker;
  tokens?: FlowTokens;
}

/** Methods a local user must authenticate outside a dialog (issue 3). */
const CHALLENGED = new Set(["INVITE", "MESSAGE", "SUBSCRIBE"]);
/** Requests that may create a dialog: we Record-Route them (§16.6 item 4). */
const DIALOG_CREATING = new Set(["INVITE", "SUBSCRIBE", "REFER", "NOTIFY"]);
/** Via param naming the upstream flow, so a stray 2xx can find its way (RFC 6026 §8.3). */
const UPSTREAM_PARAM = "swf";

interface Hop {
  /** The Request-URI of the branch. */
  uri: string;
  target: Target;
  /** RFC 3327 Path of the binding, pushed as Route. */
  path?: string[];
}

export class Proxy implements RequestForwarder {
  #deps: ProxyDeps;
  #tokens: FlowTokens;
  #contexts = new Set<ProxyContext>();

  constructor(deps: ProxyDeps) {
    this.#deps = deps;
    this.#tokens = deps.tokens ?? new FlowTokens();
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
      this.#forwardStateless(request, flow);
      return;
    }
    // §16.3 item 3: Max-Forwards 0 ends here.
    const maxForwards = request.maxForwards ?? 70;
    if (maxForwards === 0) throw new SipError(483, "Too Many Hops");
    // §16.3 item 5: we implement no proxy extension.
    const proxyRequire = request.getAll("proxy-require").map((t) => t.trim()).filter(Boolean);
    if (proxyRequire.length > 0) {
      throw new SipError(420, "Bad Extension", [["Unsupported", proxyRequire.join(", ")]]);
    }
    // §16.3 item 4 / RFC 5393: our own branch with this request's hash means a loop.
    const hash = loopHash(request);
    if (isLoop(request, hash)) throw new SipError(482, "Loop Detected");

    const inDialog = tagParam(request.get("to") ?? "") !== "";
    if (!inDialog && CHALLENGED.has(request.method) && !this.#authorize(request, flow, tx)) return;

    const popped = this.#popOurRoutes(request);
    const hops = this.#targets(request, uri, popped, inDialog);
    if (request.method === "INVITE" && !inDialog) this.#deps.dialogs?.invite(request, flow);
    if (request.method === "BYE") this.#deps.dialogs?.ended(request);

    const config = this.#deps.config().sip;
    const context = new ProxyContext(
      {
        transactions: this.#deps.transactions,
        timerC: config.timerC,
        cancelGrace: 64 * config.t1,
        dialogs: this.#deps.dialogs,
        onDone: (c) => this.#contexts.delete(c),
      },
      request,
      tx,
      flow,
    );
    this.#contexts.add(context);
    if (request.method === "INVITE" && "onCancel" in tx) {
      (tx as { onCancel?: () => void }).onCancel = () => {
        this.#deps.dialogs?.ended(request);
        context.cancel();
      };
    }
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

  /**
   * RFC 6026 §8.3 / §16.11: a 2xx matching no client transaction (its INVITE client
   * transaction ended) still goes upstream, found by the flow token in our Via.
   */
  forwardStray(response: SipResponse, _flow: Flow): void {
    if (response.status < 200 || response.status >= 300 || response.cseq.method !== "INVITE") {
      return;
    }
    const top = response.getAll("via")[0];
    if (!top) return;
    const via = parseVia(top);
    if (!(via.params.get("branch") ?? "").startsWith(BRANCH_PREFIX)) return;
    const token = via.params.get(UPSTREAM_PARAM);
    const target = token ? this.#tokenTarget(token) : undefined;
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
    if (!this.#servesDomain(from.host)) return true;
    const auth = authenticate(this.#deps, request, from.host, "proxy", flow);
    if ("response" in auth) {
      tx.respond(withToTag(auth.response));
      return false;
    }
    if (auth.user !== from.user) throw new SipError(403, "Forbidden: From Is Not You");
    // §22.3: our own credentials are consumed here, not passed downstream.
    request.headers = request.headers.filter((h) =>
      h.key !== "proxy-authorization" || !realmOf(h.value, from.host)
    );
    return true;
  }

  #servesDomain(domain: string): boolean {
    const d = domain.toLowerCase();
    const domains = this.#deps.config().sip.domains;
    if (domains.length > 0) return domains.includes(d);
    return this.#deps.store.getDomain(d) !== undefined ||
      this.#deps.store.listAccounts(d).length > 0;
  }

  // --- routing ---

  /** §16.4: pops every Route entry of ours at the top; returns their URIs. */
  #popOurRoutes(request: SipRequest): SipUri[] {
    const popped: SipUri[] = [];
    for (let i = 0; i < 4; i++) {
      const top = request.getAll("route")[0];
      if (top === undefined) break;
      let uri: SipUri;
      try {
        uri = parseNameAddr(top).uri;
      } catch {
        throw new SipError(400, "Bad Route");
      }
      if (!this.#isOurUri(uri)) break;
      request.shift("route");
      popped.push(uri);
    }
    return popped;
  }

  /** A URI naming us: one of our hosts and listening ports (or our flow-token params). */
  #isOurUri(uri: SipUri): boolean {
    if (uri.scheme !== "sip" && uri.scheme !== "sips") return false;
    if (!this.#deps.isLocalHost(uri.host)) return false;
    if (uri.params.has("ftag")) return true;
    const transport = (uri.params.get("transport") ?? "").toLowerCase();
    const port = uri.port ?? (uri.scheme === "sips" || transport === "tls" ? 5061 : 5060);
    return this.#deps.transport.listening().some((l) => l.local.port === port);
  }

  /** Where the request goes: one hop, or one per binding of the AOR (forking). */
  #targets(request: SipRequest, uri: SipUri, popped: SipUri[], inDialog: boolean): Hop[] {
    // 1. A flow token of ours, chosen by direction (ftag = the dialog creator's From tag).
    if (popped.length > 0) {
      const tokens = routeTokens(popped[popped.length - 1]);
      const fromTag = tagParam(request.get("from") ?? "");
      const token = tokens.ftag !== undefined && fromTag === tokens.ftag
        ? tokens.callee
        : tokens.caller;
      const target = token ? this.#tokenTarget(token) : undefined;
      if (target) return [{ uri: request.uri, target }];
    }
    // 2. A Route left (another proxy): it is the next hop (§16.12).
    const route = request.getAll("route")[0];
    if (route !== undefined) {
      if (!inDialog) this.#checkForeign(uri);
      const next = parseNameAddr(route).uri;
      const target = addressOf(next);
      if (!target) throw new SipError(404, "Not Found");
      return [{ uri: request.uri, target }];
    }
    // 3. A browser's contact: only its flow reaches it (RFC 7118 §5.2).
    if (isInvalidHost(uri.host)) {
      const binding = this.#deps.location.all().find((b) => sameContact(b.contactUri, uri));
      const target = binding ? this.#bindingTarget(binding) : undefined;
      if (!target) throw new SipError(480, "Temporarily Unavailable");
      return [{ uri: request.uri, target }];
    }
    // 4. A user of ours: the location service (§16.5), one branch per live binding.
    if (this.#isOurAor(uri)) return this.#lookup(uri);
    // 5. Anything else: a plain next hop, within a dialog or when allowed.
    if (!inDialog) this.#checkForeign(uri);
    const target = addressOf(uri);
    if (!target) throw new SipError(404, "Not Found");
    return [{ uri: request.uri, target }];
  }

  #checkForeign(uri: SipUri): void {
    if (!this.#deps.config().sip.allowForeignDomains) {
      throw new SipError(403, "Forbidden: Domain Not Served");
    }
    void uri;
  }

  #isOurAor(uri: SipUri): boolean {
    if (uri.scheme !== "sip" && uri.scheme !== "sips") return false;
    if (uri.user === undefined) return false;
    if (this.#servesDomain(uri.host)) return true;
    // sip:user@<our address>[:<our port>] names a user of ours too.
    return this.#deps.isLocalHost(uri.host) && (uri.port === undefined ||
      this.#deps.transport.listening().some((l) => l.local.port === uri.port));
  }

  #lookup(uri: SipUri): Hop[] {
    const user = uri.user!;
    const domains = this.#servesDomain(uri.host) ? [uri.host] : this.#servedDomains();
    let known = false;
    const hops: Hop[] = [];
    for (const domain of domains) {
      if (!this.#deps.store.getAccount(domain, user)) continue;
      known = true;
      for (const binding of this.#deps.location.lookup(`${user}@${domain}`)) {
        const target = this.#bindingTarget(binding);
        if (target) hops.push({ uri: binding.contact, target, path: binding.path });
      }
    }
    if (!known) throw new SipError(404, "Not Found");
    if (hops.length === 0) throw new SipError(480, "Temporarily Unavailable");
    return hops;
  }

  #servedDomains(): string[] {
    const domains = this.#deps.config().sip.domains;
    return domains.length > 0 ? domains : this.#deps.store.listDomains().map((d) => d.domain);
  }

  /**
   * How to reach a binding: its own flow for browsers (`.invalid`), Outbound bindings and
   * live stream connections (the phone may sit behind NAT); the Contact address otherwise.
   */
  #bindingTarget(binding: Binding): Target | undefined {
    const alive = this.#flowAlive(binding.flow);
    const outbound = binding.instance !== undefined && binding.regId !== undefined;
    if (isInvalidHost(binding.contactUri.host) || outbound) {
      return alive ? { flow: binding.flow } : undefined;
    }
    if (binding.flow.reliable && alive) return { flow: binding.flow };
    return addressOf(binding.contactUri);
  }

  #flowAlive(flow: Flow): boolean {
    return flow.transport === "udp" || this.#deps.transport.connection(flow.id) !== undefined;
  }

  #tokenTarget(token: string): Target | undefined {
    const decoded = this.#tokens.decode(token);
    if (!decoded) return undefined;
    if ("udp" in decoded) return decoded.udp;
    const connection = this.#deps.transport.connection(decoded.connectionId);
    return connection ? { flow: connection.flow } : undefined;
  }

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
    // §16.6 item 8: our Via, with a branch that carries the loop hash.
    let via = `SIP/2.0/${viaTransport(outTransport)} ${hostPort(local)};branch=${
      newProxyBranch(hash)
    }`;
    if (outTransport === "udp") via += ";rport";
    via += `;${UPSTREAM_PARAM}=${this.#tokens.encode(inFlow)}`;
    out.prepend("Via", via);
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
    const calleeFlow: Flow | undefined = "flow" in target
      ? target.flow
      : target.transport === "udp"
      ? {
        id: "",
        transport: "udp",
        local: outLocal,
        remote: { host: target.host, port: target.port },
        reliable: false,
        secure: false,
      }
      : undefined;
    const params = {
      ftag: tagParam(request.get("from") ?? ""),
      caller: this.#tokens.encode(inFlow),
      callee: calleeFlow ? this.#tokens.encode(calleeFlow) : undefined,
    };
    const same = inFlow.transport === outTransport && inLocal.host === outLocal.host &&
      inLocal.port === outLocal.port;
    out.prepend(
      "Record-Route",
      recordRouteValue(inLocal.host, inLocal.port, inFlow.transport, params),
    );
    if (!same) {
      out.prepend(
        "Record-Route",
        recordRouteValue(outLocal.host, outLocal.port, outTransport, params),
      );
    }
  }

  // --- stateless forwarding (ACK for 2xx) ---

  #forwardStateless(request: SipRequest, flow: Flow): void {
    try {
      const maxForwards = request.maxForwards ?? 70;
      if (maxForwards === 0) return;
      const popped = this.#popOurRoutes(request);
      const inDialog = tagParam(request.get("to") ?? "") !== "";
      const [hop] = this.#targets(request, parseUri(request.uri), popped, inDialog);
      const outTransport = "flow" in hop.target ? hop.target.flow.transport : hop.target.transport;
      const remoteHost = "flow" in hop.target ? hop.target.flow.remote.host : hop.target.host;
      const local = this.#deps.transport.localAddress(outTransport, remoteHost);
      if (!local) return;
      const out = request.clone();
      out.uri = hop.uri;
      out.set("max-forwards", String(maxForwards - 1));
      let via = `SIP/2.0/${viaTransport(outTransport)} ${hostPort(local)};branch=${
        statelessBranch(request)
      }`;
      if (outTransport === "udp") via += ";rport";
      out.prepend("Via", via);
      this.#deps.transactions.sendStateless(out, hop.target).catch((e) => {
        log.debug(`${request.method} not forwarded: ${e}`);
      });
      void flow;
    } catch (error) {
      // Never answer an ACK (§17.1.1.3): log and drop.
      log.debug(`${request.method} dropped: ${error instanceof Error ? error.message : error}`);
    }
  }
}

function hostPort(a: Address): string {
  return `${a.host.includes(":") ? `[${a.host}]` : a.host}:${a.port}`;
}

function isInvalidHost(host: string): boolean {
  return host.toLowerCase().endsWith(".invalid");
}

/** A URI's transport address (§19.1.1 defaults); never for `.invalid` or WebSocket URIs. */
function addressOf(uri: SipUri): Target | undefined {
  if (uri.scheme !== "sip" && uri.scheme !== "sips") return undefined;
  if (isInvalidHost(uri.host)) return undefined;
  const param = (uri.params.get("transport") ?? "").toLowerCase();
  const transport = (param || (uri.scheme === "sips" ? "tls" : "udp")) as TransportName;
  if (transport !== "udp" && transport !== "tcp" && transport !== "tls") return undefined;
  const port = uri.port ?? (transport === "tls" ? 5061 : 5060);
  return { transport, host: uri.host, port };
}

function sameContact(a: SipUri, b: SipUri): boolean {
  return a.host === b.host && (a.user ?? "") === (b.user ?? "") && a.port === b.port;
}

function realmOf(credentials: string, realm: string): boolean {
  const m = /realm\s*=\s*"([^"]*)"/i.exec(credentials);
  return !m || m[1].toLowerCase() === realm.toLowerCase();
}

function withToTag(response: SipResponse): SipResponse {
  const to = response.get("to");
  if (to && !/;\s*tag\s*=/i.test(to)) response.set("to", `${to};tag=${newTag()}`);
  return response;
}
