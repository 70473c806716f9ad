/**
 * @module The transport layer: owns every listener (UDP, TCP, TLS, WS, WSS) and the flow
 * table, parses what transports deliver, stamps `received`/`rport` (RFC 3261 §18.2.1,
 * RFC 3581), answers unparseable requests with a stateless 400, and sends messages on a
 * flow or to an address. Flows it opens carry this process as owner; given a flow of
 * another worker or node it decides locally how to reach it (see `send`). It reports upward
 * through callbacks and never names a layer above it. It composes listeners.ts (sockets),
 * flow_table.ts (connections), abuse_checks.ts (bans, rate, caps), outbound.ts (send
 * routing) and ws_dialer.ts (WS client mode); what stays here is the inbound path (checks,
 * overload shedding, worker hand-off, parse) and the layer's state (accepting, WS policy).
 */
import { buildBadRequest } from "../sip/bad_request.ts";
import { SipParseError } from "../sip/errors.ts";
import type { SipMessage } from "../sip/message.ts";
import { parseMessage } from "../sip/parse.ts";
import type { Counters } from "../events.ts";
import { Logger } from "../log.ts";
import { AbuseChecks } from "./abuse_checks.ts";
import type { AbuseGuard } from "./abuse_guard.ts";
import { advertisedHost, type InterfaceAddress } from "./address.ts";
import type { Connection, TransportSink } from "./connection.ts";
import type { TlsCredentials } from "./listener.ts";
import { type ListenerOptions, Listeners } from "./listeners.ts";
import { Outbound } from "./outbound.ts";
import { CALM, DROP, refusal503, REFUSE, startsNewWork } from "./overload.ts";
import { staysWhereRead, type WorkerLinks } from "./worker_links.ts";
import { callIdHash, callOwner } from "../sip/call_id_hash.ts";
import { type Admission, admission, type HandshakePolicy } from "./ws_policy.ts";
import { localOwner, sameOwner, shareStreamCounter, streamCounter } from "./flow_id.ts";
import { FlowTable } from "./flow_table.ts";
import { MessageCounter } from "./message_labels.ts";
import { stampReceived } from "./stamp_received.ts";
import { WsDialer } from "./ws_dialer.ts";
import type {
  Address,
  Flow,
  FlowOwner,
  Inbound,
  MessageSender,
  Target,
  TransportName,
} from "./types.ts";

export interface TransportLayerOptions extends Omit<ListenerOptions, "reusePort"> {
  /** WebSocket handshake policy (Origin, Host, CORS). */
  websocket: HandshakePolicy;
  /** True for a Host a WebSocket client may name with `check_host` (domains, our addresses). */
  isServedHost: (host: string) => boolean;
  /** WS client mode: CA certificates (PEM) a WSS peer must chain to; unset: system roots. */
  webSocketClientCa?: string[];
  counters: Counters;
  /** The process flows opened here belong to; default: a random node id, worker 0. */
  owner?: FlowOwner;
  /** Bans, rate limit and connection caps (abuse_guard.ts); none: everything passes. */
  guard?: AbuseGuard;
  /** Set when several workers share the ports (see worker_links.ts). */
  workers?: WorkerLinks;
  /** Set while the process is past its memory budget: new work is shed as when behind. */
  memory?: { readonly over: boolean };
  /**
   * In a worker thread: the process's connection counter (`connectionCounter()` of the
   * main thread's layer), so connection ids number every worker's in opening order.
   */
  connectionCounter?: SharedArrayBuffer;
}

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
  #listeners = new Listeners();
  #flows = new FlowTable();
  #abuse?: AbuseChecks;
  /** Set by the main thread's worker pool: other workers' connections, for views. */
  mirrors?: ConnectionMirrors;
  #accepting = true;
  #dialer: WsDialer;
  #outbound: Outbound;
  readonly #messagesIn: MessageCounter;
  #webSocketsEnabled = true;
  #admit: (headers: Headers) => Admission;
  readonly #udpRead: { value: number };

  /** This process's connection counter, for the worker threads it starts. */
  connectionCounter(): SharedArrayBuffer {
    return streamCounter();
  }

  constructor(options: TransportLayerOptions) {
    this.#options = options;
    this.#messagesIn = new MessageCounter(options.counters, "sip_messages_in_total");
    if (options.connectionCounter) shareStreamCounter(options.connectionCounter);
    // A given owner's node id is checked as a configured one is (it goes into flow ids).
    this.owner = options.owner
      ? localOwner(options.owner.node, options.owner.worker)
      : localOwner();
    // Which thread reads the datagrams (one UDP socket per thread: udp_reuseport.ts).
    this.#udpRead = options.counters.entry("sip_udp_read_total", {
      worker: `${this.owner.worker}`,
    });
    this.refreshInterfaces();
    this.#admit = this.#compileAdmission(options.websocket);
    this.#dialer = new WsDialer(options.webSocketLimits, options.webSocketClientCa);
    this.#outbound = new Outbound({
      listeners: this.#listeners,
      flows: this.#flows,
      dialer: this.#dialer,
      counters: options.counters,
      workers: options.workers,
      owner: this.owner,
      owns: (flow) => this.owns(flow),
      foreign: () => this.sendForeign,
    });
    if (options.guard) {
      this.#abuse = new AbuseChecks(options.guard, {
        counters: options.counters,
        reply: (message, flow) => void this.send(message, { flow }).catch(() => {}),
        closeFlow: (flowId) => this.#flows.get(flowId)?.close(),
      });
    }
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

  /**
   * Opens every configured listener, the stream ones (TCP, TLS, WS, WSS) only on the ports
   * `streamsNow` allows; throws (naming the port) when one cannot bind.
   */
  start(streamsNow?: (port: number) => boolean): void {
    const o = this.#options;
    const reusePort = (o.workers?.count ?? 1) > 1;
    this.#listeners.open({ ...o, reusePort }, this, (h) => this.#admit(h), streamsNow);
  }

  /** Opens the stream listeners `start` left closed; throws (naming the port) as it does. */
  listenStreams(): void {
    this.start();
  }

  /** Bound listeners, for the API, dashboard and tests. */
  listening(): { transport: TransportName; local: Address }[] {
    return this.#listeners.listening();
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
    // The abuse check runs once, where the bytes were read and before any hand-off (the thread
    // whose UDP socket read the datagram, the worker holding a stream), so shed traffic never
    // costs a hop; per-address rates are counted for the process (source_table.ts).
    // What other workers changed first (bindings, bans): it happened before this was sent.
    this.#options.workers?.catchUp?.();
    if (this.#abuse && !this.#abuse.message(bytes, flow, receivedAt)) return;
    // Past the limit, new work is shed before any parsing (overload.ts).
    const overload = this.#listeners.overload;
    const workers = this.#options.workers;
    // Past the memory budget (server/memory_guard.ts): refused like a backlog.
    const memoryOver = this.#options.memory?.over === true;
    if (flow.transport === "udp") {
      this.#udpRead.value++;
      if (overload) {
        overload.counted();
        // A worker's full ring is a backlog the socket's queue does not show.
        const level = overload.level !== CALM
          ? overload.level
          : memoryOver || workers?.behind?.()
          ? REFUSE
          : CALM;
        if (level !== CALM && startsNewWork(bytes)) return this.#shed(level, bytes, flow);
      }
    } else if (
      (memoryOver || this.#listeners.streamLoad?.behind() || workers?.behind?.()) &&
      startsNewWork(bytes)
    ) {
      return this.#shed(REFUSE, bytes, flow);
    }
    if (workers && workers.count > 1 && !staysWhereRead(workers, bytes)) {
      // Every message of a call goes to one worker, so its transactions and dialog are
      // matched there whichever worker the bytes arrived at. No Call-ID: answered here.
      const hash = callIdHash(bytes);
      const owner = hash < 0 ? workers.index : callOwner(hash, workers.count);
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
    // Built from the raw bytes and sent as they are: refusing costs a few µs, not a parse.
    const refusal = refusal503(bytes);
    if (!refusal) return;
    if (flow.transport !== "udp") {
      this.#flows.get(flow.id)?.send(refusal).catch(() => {});
      return;
    }
    const sent = this.#listeners.udpSocket().send(refusal, flow.remote.host, flow.remote.port);
    if (sent !== true) sent.catch(() => {});
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
        // A message in a shared slab (sip/slab.ts): the body is copied out, so a message
        // kept for long (an INVITE's SDP) holds its own bytes, not the slab.
        copyBody: bytes.byteLength !== bytes.buffer.byteLength,
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
    this.#messagesIn.count(flow.transport, message);
    try {
      this.onMessage({ message, flow, receivedAt });
    } catch (error) {
      // A failure above must never stop a read loop; the core answers 500 itself.
      log.error(`unhandled error for message from ${flow.id}: ${String(error)}`);
    }
  }

  /** Whether to accept a new connection from `host` (bans and connection caps). */
  admit(host: string, transport: TransportName): boolean {
    return this.#abuse?.connection(host, transport) ?? true;
  }

  /** Closes every connection from `host` (it was just banned). */
  closeFrom(host: string): void {
    for (const c of this.#flows.own()) if (c.flow.remote.host === host) c.close();
  }

  opened(connection: Connection): void {
    this.#options.guard?.connectionOpened(connection.flow.remote.host);
    this.#flows.add(connection);
    this.#options.counters.inc("sip_connections_opened_total", {
      transport: connection.flow.transport,
    });
    this.#options.workers?.announce(connection.flow, true);
    this.onFlowOpened(connection.flow);
  }

  closed(connection: Connection): void {
    if (!this.#flows.remove(connection)) return;
    this.#options.guard?.connectionClosed(connection.flow.remote.host, connection.flow.id);
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
    return this.#outbound.send(message, target);
  }

  /** Another worker asks this one to send on a flow whose connection it holds. */
  sendOwned(bytes: Uint8Array, flow: Flow): void {
    this.#outbound.sendOwned(bytes, flow);
  }

  /** New CA certificates for WS client mode (reload). */
  setWebSocketClientCa(caCerts: string[] | undefined): void {
    this.#dialer.caCerts = caCerts;
  }

  /** The UDP flow to `host`:`port` on our socket (a worker rebuilds a handed-over one). */
  udpFlowTo(host: string, port: number): Flow {
    return this.#listeners.udpSocket().flowTo(host, port);
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
    const own = this.#flows.own();
    return this.mirrors ? [...own, ...this.mirrors.list()] : own;
  }

  /** This worker's own connections. */
  ownConnections(): Connection[] {
    return this.#flows.own();
  }

  /**
   * The open connection of a flow id: ours, or another worker's mirror where the main thread
   * keeps them (undefined: closed, or unknown here).
   */
  connection(flowId: string): Connection | undefined {
    return this.#flows.get(flowId) ?? this.mirrors?.get(flowId);
  }

  liveFlow(flowId: string): Flow | undefined {
    return this.#flows.live(flowId);
  }

  /** Another worker opened or closed a connection (its `announce`). */
  flowElsewhere(flow: Flow, open: boolean): void {
    this.#flows.setElsewhere(flow, open);
  }

  /** Connections other workers hold, as flows. */
  flowsElsewhere(): Flow[] {
    return this.#flows.elsewhere();
  }

  /**
   * New TLS and WSS handshakes use `tls`; established connections keep their session.
   * Throws at once, changing nothing, when the certificate/key pair is unusable. The
   * promise settles when both listeners are bound again (it rejects, naming the
   * transport, only if a port could not be bound again).
   */
  reloadCertificates(tls: TlsCredentials): Promise<void> {
    const done = this.#listeners.reloadCertificates(tls);
    this.#options = { ...this.#options, tls };
    return done;
  }

  async stop(): Promise<void> {
    this.#listeners.closeSockets();
    for (const c of this.#flows.own()) c.close();
    await this.#listeners.closeWebSockets();
  }
}
