/**
 * @module Where a proxied request goes (RFC 3261 §16.4, §16.5, RFC 5626, RFC 7118): pops
 * our own Route entries, follows their flow tokens by direction, else a remaining Route,
 * a browser's `.invalid` contact (by its binding's flow), the location service for users
 * of served domains (404 unknown, 480 nothing live), or the Request-URI of another domain
 * (403 unless allowed). A request inside a dialog with no Route at all is in no dialog of
 * ours: 404. It returns hops and throws SipError; it never sends anything.
 */
import { bindingTarget } from "./binding_reach.ts";
import { servesDomain } from "./domains.ts";
import type { Config } from "../config/config.ts";
import { SipError } from "../sip/errors.ts";
import type { SipRequest } from "../sip/message.ts";
import { parseNameAddr } from "../sip/name_addr.ts";
import { type SipUri } from "../sip/uri.ts";
import type { AccountStore } from "../store/account.ts";
import { tagParam } from "../sip/tag.ts";
import type { Address, Flow, Target, TransportName } from "../transport/types.ts";
import { isInvalidHost } from "../transport/address.ts";
import { addressOf, type Binding, type LocationStore } from "./binding.ts";
import type { ClusterView } from "./cluster_view.ts";
import { type FlowTokens, type OurRoute, ourRoute } from "./record_route.ts";

/** What the proxy needs from the transport layer (TransportLayer fits). */
export interface ProxyTransport {
  localAddress(transport: TransportName, remoteHost?: string): Address | undefined;
  /** A stream flow still connected, here or in another worker; undefined once closed. */
  liveFlow(flowId: string): Flow | undefined;
  listening(): { transport: TransportName; local: Address }[];
}

export interface TargetDeps {
  location: LocationStore;
  store: AccountStore;
  transport: ProxyTransport;
  config: () => Config;
  /** True when a host names this server (served domain or one of our addresses). */
  isLocalHost: (host: string) => boolean;
  /** In a cluster: the other nodes' bindings and how to relay to their owners. */
  cluster?: Pick<ClusterView, "lookup" | "relayRoute" | "isPeer">;
}

/** One branch to start: its Request-URI and where to send it. */
export interface Hop {
  uri: string;
  target: Target;
  /** RFC 3327 Path of the binding, pushed as Route. */
  path?: string[];
}

/** Route values of ours read for reuse; a table cleared when full. */
const MAX_OUR_ROUTES = 4096;

export class TargetResolver {
  #deps: TargetDeps;
  #tokens: FlowTokens;
  /**
   * Our Route entries as routing reads them, by their text: a dialog's ACK, BYE and
   * re-INVITEs carry the same ones (our Record-Route). Read only, never changed by routing.
   */
  readonly #ourRoutes = new Map<string, OurRoute>();

  constructor(deps: TargetDeps, tokens: FlowTokens) {
    this.#deps = deps;
    this.#tokens = tokens;
  }

  servesDomain(domain: string): boolean {
    return servesDomain(this.#deps.config().sip.domains, this.#deps.store, domain);
  }

  /** A Record-Route value of ours as routing reads it: the dialog's requests bring it back. */
  rememberOurRoute(value: string, route: OurRoute): void {
    if (this.#ourRoutes.size >= MAX_OUR_ROUTES) this.#ourRoutes.clear();
    this.#ourRoutes.set(value, route);
  }

  /** §16.4: pops every Route entry of ours at the top; returns what they say. */
  popOurRoutes(request: SipRequest): OurRoute[] {
    const popped: OurRoute[] = [];
    for (let i = 0; i < 4; i++) {
      const top = request.getAll("route")[0];
      if (top === undefined) break;
      let route = this.#ourRoutes.get(top);
      if (route === undefined) {
        let uri: SipUri;
        try {
          uri = parseNameAddr(top).uri;
        } catch {
          throw new SipError(400, "Bad Route");
        }
        if (uri.scheme !== "sip" && uri.scheme !== "sips") break;
        route = ourRoute(uri);
        if (!this.#isOurs(route)) break;
        this.rememberOurRoute(top, route);
      } else if (!this.#isOurs(route)) break;
      request.shift("route");
      popped.push(route);
    }
    return popped;
  }

  /**
   * A sip(s) URI naming us: one of our hosts and listening ports (or a cluster relay token).
   * A Record-Route with flow tokens (`ftag`) counts only on our port: another sipws on the
   * path (WS client mode, a second instance on the same host) writes the same params.
   */
  #isOurs(route: OurRoute): boolean {
    if (!this.#deps.isLocalHost(route.host)) return false;
    if (route.relay !== undefined) return true;
    return this.#deps.transport.listening().some((l) => l.local.port === route.port);
  }

  /** Where the request goes: one hop, or one per binding of the AOR (forking). */
  targets(request: SipRequest, uri: SipUri, popped: OurRoute[], inDialog: boolean): Hop[] {
    // 0. Inside a dialog with no Route left at all: we Record-Route every dialog we are
    // on, so this dialog is not ours (a UA's BYE for a REGISTER it gave up on, sent to
    // the AOR): 404 here, as Kamailio's and OpenSIPS's default scripts, never a fork.
    if (inDialog && popped.length === 0 && !request.has("route")) {
      throw new SipError(404, "Not Here");
    }
    // 1. A binding of ours that another node of the cluster relays to, or a flow token of
    // ours chosen by direction (ftag = the dialog creator's From tag).
    if (popped.length > 0) {
      const tokens = popped[popped.length - 1];
      const relayed = tokens.relay;
      if (relayed) {
        const binding = this.#deps.location.byId(relayed);
        const target = binding && this.#bindingTarget(binding);
        if (!target) throw new SipError(480, "Temporarily Unavailable");
        return [{ uri: request.uri, target }];
      }
      const fromTag = tagParam(request.get("from") ?? "");
      const token = tokens.ftag !== undefined && fromTag === tokens.ftag
        ? tokens.callee
        : tokens.caller;
      const target = token ? this.tokenTarget(token) : undefined;
      if (target) return [{ uri: request.uri, target }];
    }
    // 2. A Route left (another proxy): it is the next hop (§16.12).
    const route = request.getAll("route")[0];
    if (route !== undefined) {
      if (!inDialog) this.#checkForeign();
      const next = parseNameAddr(route).uri;
      const target = addressOf(next, true);
      if (!target) throw new SipError(404, "Not Found");
      return [{ uri: request.uri, target }];
    }
    // 3. A browser's contact: only its flow reaches it (RFC 7118 §5.2).
    if (isInvalidHost(uri.host)) {
      const binding = this.#deps.location.byContact(uri);
      const target = binding ? this.#bindingTarget(binding) : undefined;
      if (!target) throw new SipError(480, "Temporarily Unavailable");
      return [{ uri: request.uri, target }];
    }
    // 4. A user of ours: the location service (§16.5), one branch per live binding.
    if (this.#isOurAor(uri)) return this.lookup(uri);
    // 5. Anything else: a plain next hop, within a dialog or when allowed.
    if (!inDialog) this.#checkForeign();
    const target = addressOf(uri, true);
    if (!target) throw new SipError(404, "Not Found");
    return [{ uri: request.uri, target }];
  }

  #checkForeign(): void {
    if (!this.#deps.config().sip.allowForeignDomains) {
      throw new SipError(403, "Forbidden: Domain Not Served");
    }
  }

  #isOurAor(uri: SipUri): boolean {
    if (uri.scheme !== "sip" && uri.scheme !== "sips") return false;
    if (uri.user === undefined) return false;
    if (this.servesDomain(uri.host)) return true;
    // sip:user@<our address>[:<our port>] names a user of ours too.
    return this.#deps.isLocalHost(uri.host) && (uri.port === undefined ||
      this.#deps.transport.listening().some((l) => l.local.port === uri.port));
  }

  /** One hop per live binding of a user of ours: 404 unknown user, 480 none live. */
  lookup(uri: SipUri): Hop[] {
    const user = uri.user!;
    const domains = this.servesDomain(uri.host) ? [uri.host] : this.#servedDomains();
    let known = false;
    const hops: Hop[] = [];
    for (const domain of domains) {
      if (!this.#deps.store.getAccount(domain, user)) continue;
      known = true;
      for (const binding of this.#deps.location.lookup(`${user}@${domain}`)) {
        const target = this.#bindingTarget(binding);
        if (target) hops.push({ uri: binding.contact, target, path: binding.path });
      }
      for (const binding of this.#deps.cluster?.lookup(`${user}@${domain}`) ?? []) {
        const hop = this.#remoteHop(binding);
        if (hop) hops.push(hop);
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

  #bindingTarget(binding: Binding): Target | undefined {
    return bindingTarget(binding, this.#flowAlive(binding.flow));
  }

  /**
   * A binding another node owns is reached through that node, on the flow it registered
   * on (a Route to the owner's advertise URI with its flow token, as an RFC 5626 edge
   * proxy is reached): a NAT lets the phone's packets in only from where it registered.
   * When the owner is not known alive, an address Contact is tried directly.
   */
  #remoteHop(binding: Binding): Hop | undefined {
    const relay = this.#deps.cluster!.relayRoute(binding);
    if (relay.target) {
      return { uri: binding.contact, target: relay.target, path: [relay.route, ...binding.path] };
    }
    const outbound = binding.instance !== undefined && binding.regId !== undefined;
    if (isInvalidHost(binding.contactHost) || outbound || !binding.contactAddress) return undefined;
    return { uri: binding.contact, target: binding.contactAddress, path: binding.path };
  }

  #flowAlive(flow: Flow): boolean {
    return flow.transport === "udp" || this.#deps.transport.liveFlow(flow.id) !== undefined;
  }

  tokenTarget(token: string): Target | undefined {
    const decoded = this.#tokens.decode(token);
    if (!decoded) return undefined;
    if ("udp" in decoded) return decoded.udp;
    const flow = this.#deps.transport.liveFlow(decoded.flowId);
    return flow ? { flow } : undefined;
  }
}
