/**
 * @module The transport layer: owns every listener (UDP, TCP, TLS, WS, WSS) and the flow
 * table, parses what transports deliver, stamps `received`/`rport` (RFC 3261 §18.2.1,
 * RFC 3581), answers unparseable requests with a stateless 400, and sends messages on a
 * flow or to an address. Flows it opens carry this process as owner; given a flow of
 * another worker or node it decides locally how to reach it (see `send`). It reports upward
 * through callbacks and never names a layer above it.
 */
import { buildBadRequest } from "../sip/bad_request.ts";
import { SipParseError } from "../sip/errors.ts";
import type { SipMessage } from "../sip/message.ts";
import { parseMessage } from "../sip/parse.ts";
import { splitTopLevel } from "../sip/params.ts";
import { formatVia, parseVia } from "../sip/via.ts";
import type { Counters } from "../events.ts";
import { Logger } from "../log.ts";
import { type AbuseGuard, DROP_BANNED, PASS, REFUSE_RATE } from "./abuse_guard.ts";
import { advertisedHost, type InterfaceAddress, isInvalidHost, isWildcard } from "./address.ts";
import type { Connection, TransportSink } from "./connection.ts";
import type { TlsCredentials } from "./listener.ts";
import { TcpTransport } from "./tcp.ts";
import { UdpTransport } from "./udp.ts";
import { CALM, DROP, ReceiveQueueWatch, startsNewWork } from "./overload.ts";
import { UdpFdSender } from "./udp_fd_sender.ts";
import type { WorkerLinks } from "./worker_links.ts";
import { callIdHash } from "../sip/call_id_hash.ts";
import { WsTransport } from "./ws.ts";
import { type Admission, admission, type HandshakePolicy } from "./ws_policy.ts";
import { localOwner, sameOwner } from "./flow_id.ts";
import type {
  Address,
  Flow,
  FlowOwner,
  Inbound,
  MessageSender,
  Target,
  TransportName,
} from "./types.ts";

export interface TransportLayerOptions {
  /** Address to bind; wildcard binds every IPv4 and IPv6 address. */
  hostname: string;
  udpPort?: number;
  tcpPort?: number;
  tlsPort?: number;
  wsPort?: number;
  wssPort?: number;
  tls?: TlsCredentials;
  /** WebSocket handshake policy (Origin, Host, CORS). */
  websocket: HandshakePolicy;
  /** True for a Host a WebSocket client may name with `check_host` (domains, our addresses). */
  isServedHost: (host: string) => boolean;
  /** WebSocket handshake size limit and keep-alive policy (see `WsOptions`). */
  webSocketLimits: {
    maxHeaderSize: number;
    pingInterval: number;
    pingTimeout: number;
    maxMessageSize: number;
    maxFragments: number;
    /** Seconds. */
    handshakeTimeout: number;
    /** Milliseconds. */
    sendTimeout: number;
  };
  /** WS client mode: CA certificates (PEM) a WSS peer must chain to; unset: system roots. */
  webSocketClientCa?: string[];
  maxMessageSize: number;
  /** SO_RCVBUF asked for on UDP sockets, bytes; 0 leaves the OS default. */
  udpReceiveBuffer?: number;
  counters: Counters;
  /** The process flows opened here belong to; default: a random node id, worker 0. */
  owner?: FlowOwner;
  /** Bans, rate limit and connection caps (abuse_guard.ts); none: everything passes. */
  guard?: AbuseGuard;
  /** Set when several workers share the ports (see worker_links.ts). */
  workers?: WorkerLinks;
  /**
   * A worker thread does not bind UDP: it sends on the main thread's socket (this
   * descriptor) and receives the datagrams of its calls from the main thread.
   */
  udpSocket?: { fd: number; local: Address; owner: FlowOwner };
}

/** Linux's default receive buffer as SO_RCVBUF reports it, when ours could not be read. */
const DEFAULT_UDP_RCVBUF = 212_992;

const log = new Logger("transport");

/** Connections other workers hold, as the main thread lists them (src/workers/mirror.ts). */
export interface ConnectionMirrors {
  list(): Connection[];
  get(id: string): Connection | undefined;
}

export class TransportLayer implements MessageSender, TransportSink {
  /** Every parsed inbound message. */
  onMessage: (inbound: Inbound) => void = () => {};
  onFlowOpened: (flow: Flow) => void = () => {};
  /** A connection ended; WebSocket ones say how (`closeInfo`). */
  onFlowClosed: (flow: Flow, connection: Connection) => void = () => {};
  /**
   * Hands bytes for a stream flow of another worker or node to its owner (the worker
   * supervisor sets it). Unset, such a flow is treated like a closed connection.
   */
  sendForeign?: (bytes: Uint8Array, flow: Flow) => Promise<void>;

  readonly owner: FlowOwner;
  /** The machine's addresses, read at start and at reload (see refreshInterfaces). */
  #interfaces: readonly InterfaceAddress[] = [];
  #interfaceSet = new Set<string>();
  #options: TransportLayerOptions;
  #udp?: UdpTransport | UdpFdSender;
  /** How far behind the UDP socket's reader is (the main thread's socket only). */
  #overload?: ReceiveQueueWatch;
  #tcp?: TcpTransport;
  #tls?: TcpTransport;
  #ws?: WsTransport;
  #wss?: WsTransport;
  #connections = new Map<string, Connection>();
  /** "transport|host:port" → connection id, for reusing a connection to a peer. */
  #byRemote = new Map<string, string>();
  /** Live connections other workers hold, by flow id (see `liveFlow`). */
  #elsewhere = new Map<string, Flow>();
  /** Set by the main thread's worker pool: other workers' connections, for views. */
  mirrors?: ConnectionMirrors;
  #accepting = true;
  /** WS client mode: connections being opened, by remote key. */
  #dialing = new Map<string, Promise<Connection>>();
  #webSocketsEnabled = true;
  #admit: (headers: Headers) => Admission;

  constructor(options: TransportLayerOptions) {
    this.#options = options;
    // A given owner's node id is checked as a configured one is (it goes into flow ids).
    this.owner = options.owner
      ? localOwner(options.owner.node, options.owner.worker)
      : localOwner();
    this.refreshInterfaces();
    this.#admit = this.#compileAdmission(options.websocket);
  }

  #compileAdmission(policy: HandshakePolicy): (headers: Headers) => Admission {
    const decide = admission(policy, this.#options.isServedHost, () => this.#webSocketsEnabled);
    return (headers) => {
      const result = decide(headers);
      if (!result.ok) {
        this.#options.counters.inc("ws_handshakes_refused_total", { reason: result.reason });
      }
      return result;
    };
  }

  /** Applies a new handshake policy to the next handshakes (reload). */
  setWebSocketPolicy(policy: HandshakePolicy): void {
    this.#admit = this.#compileAdmission(policy);
  }

  /** While false, new WebSocket handshakes get 503; open connections stay. */
  get webSocketsEnabled(): boolean {
    return this.#webSocketsEnabled;
  }

  setWebSocketsEnabled(enabled: boolean): void {
    this.#webSocketsEnabled = enabled;
    this.#options.workers?.webSocketsChanged?.(enabled);
  }

  /** True when `flow` lives in this process (hand-made flows without an owner count as ours). */
  owns(flow: Flow): boolean {
    return flow.owner === undefined || sameOwner(flow.owner, this.owner);
  }

  /** Opens every configured listener; throws (naming the port) when one cannot bind. */
  start(): void {
    const o = this.#options;
    const hosts = isWildcard(o.hostname) ? ["::", "0.0.0.0"] : [o.hostname];
    const bind = <T>(what: string, port: number, open: (host: string) => T): T => {
      let last: unknown;
      for (const host of hosts) {
        try {
          return open(host);
        } catch (error) {
          last = error;
        }
      }
      throw new Error(`cannot listen for ${what} on ${o.hostname}:${port}: ${String(last)}`);
    };
    const max = o.maxMessageSize;
    const reusePort = (o.workers?.count ?? 1) > 1;
    if (o.udpSocket) {
      const { fd, local, owner } = o.udpSocket;
      this.#udp = new UdpFdSender(fd, local, owner);
    } else if (o.udpPort !== undefined) {
      const port = o.udpPort;
      const udp = bind(
        "udp",
        port,
        (h) => new UdpTransport(h, port, this, max, o.udpReceiveBuffer),
      );
      this.#udp = udp;
      log.info(`udp receive buffer: ${udp.receiveBuffer ?? "OS default"} bytes`);
      this.#overload = new ReceiveQueueWatch(
        udp.local.host,
        udp.local.port,
        udp.receiveBuffer ?? DEFAULT_UDP_RCVBUF,
      );
      udp.run();
    }
    if (o.tcpPort !== undefined) {
      const port = o.tcpPort;
      this.#tcp = bind(
        "tcp",
        port,
        (h) => new TcpTransport(h, port, this, max, undefined, reusePort),
      );
      this.#tcp.run();
    }
    if (o.tlsPort !== undefined || o.wssPort !== undefined) {
      if (!o.tls) throw new Error("TLS and WSS need a certificate and key (-c, -k)");
    }
    if (o.tlsPort !== undefined) {
      const port = o.tlsPort;
      this.#tls = bind("tls", port, (h) => new TcpTransport(h, port, this, max, o.tls, reusePort));
      this.#tls.run();
    }
    const ws = (port: number, tls?: TlsCredentials) =>
      bind(tls ? "wss" : "ws", port, (hostname) =>
        new WsTransport(
          {
            hostname,
            port,
            tls,
            admit: (h) => this.#admit(h),
            maxMessageSize: o.webSocketLimits.maxMessageSize,
            maxFragments: o.webSocketLimits.maxFragments,
            maxHeaderBytes: o.webSocketLimits.maxHeaderSize,
            pingInterval: o.webSocketLimits.pingInterval,
            pingTimeout: o.webSocketLimits.pingTimeout,
            handshakeTimeoutMs: o.webSocketLimits.handshakeTimeout * 1000,
            sendTimeoutMs: o.webSocketLimits.sendTimeout,
            reusePort,
          },
          this,
        ));
    if (o.wsPort !== undefined) this.#ws = ws(o.wsPort);
    if (o.wssPort !== undefined) this.#wss = ws(o.wssPort, o.tls);
  }

  /** Bound listeners, for the API, dashboard and tests. */
  listening(): { transport: TransportName; local: Address }[] {
    const out: { transport: TransportName; local: Address }[] = [];
    if (this.#udp) out.push({ transport: "udp", local: this.#udp.local });
    if (this.#tcp) out.push({ transport: "tcp", local: this.#tcp.local });
    if (this.#tls) out.push({ transport: "tls", local: this.#tls.local });
    if (this.#ws) out.push({ transport: "ws", local: this.#ws.local });
    if (this.#wss) out.push({ transport: "wss", local: this.#wss.local });
    return out;
  }

  /** SIPWS protocol "stop"/"start": while not accepting, inbound SIP is dropped. */
  setAccepting(accepting: boolean): void {
    this.#accepting = accepting;
    this.#options.workers?.acceptingChanged?.(accepting);
  }

  get accepting(): boolean {
    return this.#accepting;
  }

  // --- TransportSink: called by the transports ---

  deliver(bytes: Uint8Array, flow: Flow): void {
    const receivedAt = Date.now();
    // The abuse check runs once, where the bytes were read and before any hand-off: for UDP
    // that is the main thread (it reads every datagram), so per-address rates are exact and
    // shed traffic never costs a hop; a stream's check runs in the worker holding it.
    const guard = this.#options.guard;
    if (guard) {
      const verdict = guard.checkMessage(
        flow.remote.host,
        flow.reliable ? flow.id : undefined,
        isRequest(bytes),
        receivedAt,
      );
      if (verdict !== PASS) return this.#refuse(guard, verdict, bytes, flow);
    }
    // Past the limit, new work is shed before any parsing (overload.ts).
    const overload = this.#overload;
    if (overload && flow.transport === "udp") {
      overload.counted();
      if (overload.level !== CALM && startsNewWork(bytes)) {
        return this.#shed(overload.level, bytes, flow);
      }
    }
    const workers = this.#options.workers;
    if (workers && workers.count > 1) {
      // Every message of a call goes to one worker, so its transactions and dialog are
      // matched there whichever worker the bytes arrived at. No Call-ID: answered here.
      const hash = callIdHash(bytes);
      const owner = hash < 0 ? workers.index : hash % workers.count;
      if (owner !== workers.index) {
        workers.handOff(owner, bytes, flow);
        return;
      }
    }
    this.receive(bytes, flow, receivedAt);
  }

  #shed(level: number, bytes: Uint8Array, flow: Flow): void {
    const counters = this.#options.counters;
    if (level === DROP) {
      counters.inc("sip_shed_total", { action: "drop" });
      return;
    }
    counters.inc("sip_shed_total", { action: "503" });
    const refusal = buildBadRequest(bytes, "Service Unavailable", 503);
    if (!refusal) return;
    refusal.append("Retry-After", "2");
    this.send(refusal, { flow }).catch(() => {});
  }

  /**
   * A message this worker handles: parsed, stamped and passed up (the abuse check ran in
   * `deliver`, where it was read).
   */
  receive(bytes: Uint8Array, flow: Flow, receivedAt = Date.now()): void {
    const counters = this.#options.counters;
    if (!this.#accepting) {
      counters.inc("sip_dropped_total", { reason: "stopped" });
      return;
    }
    let message: SipMessage;
    try {
      message = parseMessage(bytes, {
        stream: flow.transport === "tcp" || flow.transport === "tls",
      });
      if (message.isRequest) stampReceived(message, flow);
    } catch (error) {
      counters.inc("sip_parse_errors_total", { transport: flow.transport });
      const parseError = error instanceof SipParseError ? error : undefined;
      const response = buildBadRequest(
        bytes,
        parseError?.reason ?? "Bad Request",
        parseError?.status,
      );
      if (response) this.send(response, { flow }).catch(() => {});
      else counters.inc("sip_dropped_total", { reason: "unparseable" });
      log.debug(`unparseable message from ${flow.id}: ${String(error)}`);
      return;
    }
    counters.inc("sip_messages_in_total", {
      transport: flow.transport,
      ...(message.isRequest ? { method: message.method } : { status: String(message.status) }),
    });
    try {
      this.onMessage({ message, flow, receivedAt });
    } catch (error) {
      // A failure above must never stop a read loop; the core answers 500 itself.
      log.error(`unhandled error for message from ${flow.id}: ${String(error)}`);
    }
  }

  /** Shed before parsing: banned → dropped (its connection closed), over the rate → 503. */
  #refuse(guard: AbuseGuard, verdict: number, bytes: Uint8Array, flow: Flow): void {
    const counters = this.#options.counters;
    if (verdict === DROP_BANNED) {
      counters.inc("sip_dropped_total", { reason: "banned" });
      this.#connections.get(flow.id)?.close();
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
    this.send(refusal, { flow }).catch(() => {});
  }

  /** Whether to accept a new connection from `host` (bans and connection caps). */
  admit(host: string, transport: TransportName): boolean {
    const guard = this.#options.guard;
    if (!guard) return true;
    const verdict = guard.admitConnection(host);
    if (verdict === "ok") return true;
    this.#options.counters.inc("connections_refused_total", { reason: verdict, transport });
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

  /** Closes every connection from `host` (it was just banned). */
  closeFrom(host: string): void {
    for (const c of [...this.#connections.values()]) if (c.flow.remote.host === host) c.close();
  }

  opened(connection: Connection): void {
    this.#options.guard?.connectionOpened(connection.flow.remote.host);
    this.#connections.set(connection.flow.id, connection);
    this.#byRemote.set(
      remoteKey(connection.flow.transport, connection.flow.remote),
      connection.flow.id,
    );
    this.#options.counters.inc("sip_connections_opened_total", {
      transport: connection.flow.transport,
    });
    this.#options.workers?.announce(connection.flow, true);
    this.onFlowOpened(connection.flow);
  }

  closed(connection: Connection): void {
    if (!this.#connections.delete(connection.flow.id)) return;
    this.#options.guard?.connectionClosed(connection.flow.remote.host, connection.flow.id);
    const key = remoteKey(connection.flow.transport, connection.flow.remote);
    if (this.#byRemote.get(key) === connection.flow.id) this.#byRemote.delete(key);
    this.#options.workers?.announce(connection.flow, false);
    this.onFlowClosed(connection.flow, connection);
  }

  dropped(flow: Flow, reason: string): void {
    this.#options.counters.inc("sip_dropped_total", { reason });
    log.debug(`dropped from ${flow.id}: ${reason}`);
  }

  // --- MessageSender: called by the layers above ---

  /**
   * Sends on a flow reference or to an address. A UDP flow of another worker is reached
   * from our own socket (the same port under SO_REUSEPORT); a stream flow of another
   * worker or node goes to `sendForeign`, else is treated as a closed connection.
   */
  send(message: SipMessage, target: Target): Promise<Flow> {
    try {
      const bytes = message.toBytes();
      if ("flow" in target && target.flow.transport === "udp") {
        // The hot path (every response over UDP): one promise, not a chain of async calls.
        const flow = target.flow;
        const sent = this.#udpSocket().send(bytes, flow.remote.host, flow.remote.port);
        if (sent === true) {
          this.#countOut(message, flow);
          return Promise.resolve(flow);
        }
        return sent.then(() => {
          this.#countOut(message, flow);
          return flow;
        });
      }
      return this.#sendAny(message, bytes, target);
    } catch (error) {
      // Callers chain .catch(): a failure is always a rejection, never a throw.
      return Promise.reject(error);
    }
  }

  async #sendAny(message: SipMessage, bytes: Uint8Array, target: Target): Promise<Flow> {
    const flow = "flow" in target
      ? await this.#sendOnFlow(bytes, target.flow)
      : await this.#sendTo(bytes, target);
    this.#countOut(message, flow);
    return flow;
  }

  #countOut(message: SipMessage, flow: Flow): void {
    this.#options.counters.inc("sip_messages_out_total", {
      transport: flow.transport,
      ...(message.isRequest ? { method: message.method } : { status: String(message.status) }),
    });
  }

  async #sendOnFlow(bytes: Uint8Array, flow: Flow): Promise<Flow> {
    if (flow.transport === "udp") {
      await this.#udpSocket().send(bytes, flow.remote.host, flow.remote.port);
      return flow;
    }
    const worker = this.#otherWorker(flow);
    if (worker !== undefined) {
      // The connection lives in another worker of this node: it sends (or reaches the
      // peer anew).
      this.#options.workers!.sendVia(worker, bytes, flow);
      return flow;
    }
    if (!this.owns(flow) && this.sendForeign) {
      await this.sendForeign(bytes, flow);
      return flow;
    }
    const connection = this.#connections.get(flow.id);
    if (connection) {
      await connection.send(bytes);
      return flow;
    }
    // A WebSocket flow that is gone cannot be reached anew: its peer's port was its own
    // (WS client mode dials next hops, never the remote end of a lost flow).
    if (flow.transport === "ws" || flow.transport === "wss") {
      throw new Error(`no ${flow.transport} connection for flow ${flow.id}`);
    }
    // RFC 3261 §18.2.2: the connection is gone; a TCP/TLS peer may be reached anew.
    return await this.#sendTo(bytes, { transport: flow.transport, ...flow.remote });
  }

  /** The worker of this node holding `flow`'s connection, when it is not this one. */
  #otherWorker(flow: Flow): number | undefined {
    const workers = this.#options.workers;
    const owner = flow.owner;
    if (!workers || !owner || owner.node !== this.owner.node) return undefined;
    if (owner.worker === this.owner.worker || owner.worker >= workers.count) return undefined;
    return owner.worker;
  }

  /** Another worker asks this one to send on a flow whose connection it holds. */
  sendOwned(bytes: Uint8Array, flow: Flow): void {
    const connection = this.#connections.get(flow.id);
    const sent = connection
      ? connection.send(bytes)
      : this.#sendTo(bytes, { transport: flow.transport, ...flow.remote });
    sent.catch((error) => log.debug(`send on ${flow.id} for another worker: ${String(error)}`));
  }

  async #sendTo(
    bytes: Uint8Array,
    target: { transport: TransportName; host: string; port: number },
  ): Promise<Flow> {
    if (isInvalidHost(target.host)) {
      throw new Error(`${target.host} is a placeholder host (RFC 7118); no flow reaches it`);
    }
    const { transport, host, port } = target;
    if (transport === "udp") {
      const udp = this.#udpSocket();
      await udp.send(bytes, host, port);
      return udp.flowTo(host, port);
    }
    const existing = this.#connections.get(
      this.#byRemote.get(remoteKey(transport, { host, port })) ?? "",
    );
    if (existing) {
      await existing.send(bytes);
      return existing.flow;
    }
    if (transport === "ws" || transport === "wss") {
      const connection = await this.#dialWebSocket(transport, host, port);
      await connection.send(bytes);
      return connection.flow;
    }
    const listener = transport === "tcp" ? this.#tcp : transport === "tls" ? this.#tls : undefined;
    if (!listener) throw new Error(`no ${transport} connection to ${host}:${port}`);
    const connection = await listener.connect(host, port);
    await connection.send(bytes);
    return connection.flow;
  }

  /** WS client mode; concurrent sends to one peer share the one connection being opened. */
  #dialWebSocket(transport: "ws" | "wss", host: string, port: number): Promise<Connection> {
    const key = remoteKey(transport, { host, port });
    const pending = this.#dialing.get(key);
    if (pending) return pending;
    const ws = transport === "ws" ? this.#ws : this.#wss;
    // Our Via and Record-Route name our own listener of the kind, so one must exist.
    if (!ws) return Promise.reject(new Error(`no ${transport} listener to dial ${host}:${port}`));
    const limits = this.#options.webSocketLimits;
    const dial = ws.connect(host, port, {
      caCerts: this.#options.webSocketClientCa,
      maxMessageSize: limits.maxMessageSize,
      maxFragments: limits.maxFragments,
      timeoutMs: limits.handshakeTimeout * 1000,
    }).finally(() => this.#dialing.delete(key));
    this.#dialing.set(key, dial);
    return dial;
  }

  /** New CA certificates for WS client mode (reload). */
  setWebSocketClientCa(caCerts: string[] | undefined): void {
    this.#options = { ...this.#options, webSocketClientCa: caCerts };
  }

  /** The UDP flow to `host`:`port` on our socket (a worker rebuilds a handed-over one). */
  udpFlowTo(host: string, port: number): Flow {
    return this.#udpSocket().flowTo(host, port);
  }

  #udpSocket(): UdpTransport | UdpFdSender {
    const udp = this.#udp;
    if (!udp) throw new Error("UDP is not enabled");
    return udp;
  }

  localAddress(transport: TransportName, remoteHost?: string): Address | undefined {
    const entry = this.listening().find((l) => l.transport === transport);
    if (!entry) return undefined;
    const host = advertisedHost(this.#options.hostname, remoteHost, this.#interfaces);
    return { host, port: entry.local.port };
  }

  /** Re-reads the machine's addresses (at reload): a syscall, never one per message. */
  refreshInterfaces(): void {
    this.#interfaces = Deno.networkInterfaces();
    this.#interfaceSet = new Set(this.#interfaces.map((i) => i.address.toLowerCase()));
  }

  /** True when `host` (lower-case, no brackets) is an address of this machine. */
  isInterfaceAddress(host: string): boolean {
    return this.#interfaceSet.has(host);
  }

  /** Every connection of the server: this worker's, then other workers' (their mirrors). */
  connections(): Connection[] {
    const own = [...this.#connections.values()];
    return this.mirrors ? [...own, ...this.mirrors.list()] : own;
  }

  /** This worker's own connections. */
  ownConnections(): Connection[] {
    return [...this.#connections.values()];
  }

  /**
   * The open connection of a flow id: ours, or another worker's mirror where the main thread
   * keeps them (undefined: closed, or unknown here).
   */
  connection(flowId: string): Connection | undefined {
    return this.#connections.get(flowId) ?? this.mirrors?.get(flowId);
  }

  liveFlow(flowId: string): Flow | undefined {
    return this.#connections.get(flowId)?.flow ?? this.#elsewhere.get(flowId);
  }

  /** Another worker opened or closed a connection (its `announce`). */
  flowElsewhere(flow: Flow, open: boolean): void {
    if (open) this.#elsewhere.set(flow.id, flow);
    else this.#elsewhere.delete(flow.id);
  }

  /** Connections other workers hold, as flows. */
  flowsElsewhere(): Flow[] {
    return [...this.#elsewhere.values()];
  }

  /**
   * New TLS and WSS handshakes use `tls`; established connections keep their session.
   * Throws at once, changing nothing, when the certificate/key pair is unusable. The
   * promise settles when both listeners are bound again (it rejects, naming the
   * transport, only if a port could not be bound again).
   */
  reloadCertificates(tls: TlsCredentials): Promise<void> {
    const swaps = [
      this.#tls?.reloadCertificate(tls).catch((e) => Promise.reject(new Error(`tls: ${e}`))),
      this.#wss?.reloadCertificate(tls).catch((e) => Promise.reject(new Error(`wss: ${e}`))),
    ];
    this.#options = { ...this.#options, tls };
    const done = Promise.all(swaps).then(() => {});
    // Handled here too, so a caller that does not await cannot cause an unhandled rejection.
    done.catch((e) => log.error(`certificate reload: ${e instanceof Error ? e.message : e}`));
    return done;
  }

  async stop(): Promise<void> {
    this.#overload?.close();
    this.#udp?.close();
    this.#tcp?.close();
    this.#tls?.close();
    for (const c of this.#connections.values()) c.close();
    await Promise.all([this.#ws?.close(), this.#wss?.close()]);
  }
}

/** A response starts `SIP/`; anything else counts as a request for the rate limit. */
function isRequest(bytes: Uint8Array): boolean {
  return !(bytes[0] === 83 && bytes[1] === 73 && bytes[2] === 80 && bytes[3] === 47);
}

function remoteKey(transport: string, remote: Address): string {
  return `${transport}|${remote.host}:${remote.port}`;
}

/** RFC 3261 §18.2.1 and RFC 3581 §4: tell the sender where its request came from. */
function stampReceived(message: SipMessage, flow: Flow): void {
  const header = message.headers.find((h) => h.key === "via");
  if (!header) return;
  const single = header.value !== "" && !header.value.includes(",");
  const values = single ? [header.value] : splitTopLevel(header.value, ",");
  // A one-value line is what `topVia` parses too: read it there, so the parse is shared.
  const parsed = single ? message.topVia : parseVia(values[0]);
  const rport = parsed.params.has("rport");
  if (!rport && parsed.host === flow.remote.host) return;
  const via = { ...parsed, params: new Map(parsed.params) };
  via.params.set("received", flow.remote.host);
  if (rport) via.params.set("rport", String(flow.remote.port));
  if (single) return message.replaceTopVia(header, via);
  values[0] = formatVia(via);
  header.value = values.join(",");
}
