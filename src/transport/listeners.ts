/**
 * @module The sockets the transport layer listens on (UDP, TCP, TLS, WS, WSS): binds them
 * (every IPv4 and IPv6 address for a wildcard host), lists them, swaps their certificate at
 * reload and closes them. What they read goes to a `TransportSink` (the layer).
 */
import { Logger } from "../log.ts";
import { isWildcard } from "./address.ts";
import type { TransportSink } from "./connection.ts";
import type { TlsCredentials } from "./listener.ts";
import { ReceiveQueueWatch } from "./overload.ts";
import { StreamLoadWatch } from "./stream_overload.ts";
import { TcpTransport } from "./tcp.ts";
import type { Address, FlowOwner, TransportName } from "./types.ts";
import { UdpTransport } from "./udp.ts";
import { UdpFdSender } from "./udp_fd_sender.ts";
import { UdpSocketReader } from "./udp_socket_reader.ts";
import { intOption } from "./socket_options.ts";
import { WsTransport } from "./ws.ts";
import type { Admission } from "./ws_policy.ts";

/** Linux's default receive buffer as SO_RCVBUF reports it, when ours could not be read. */
const DEFAULT_UDP_RCVBUF = 212_992;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
/**
 * How often a worker thread's UDP overload watch samples its socket besides every 16
 * datagrams read (to calm down once the load is gone): it reads REGISTERs only, and each
 * sample wakes an idle thread.
 */
const WORKER_SAMPLE_MS = 250;

const log = new Logger("transport");

/** What binding needs (`TransportLayerOptions` extends it). */
export interface ListenerOptions {
  /** Address to bind; wildcard binds every IPv4 and IPv6 address. */
  hostname: string;
  udpPort?: number;
  tcpPort?: number;
  tlsPort?: number;
  wsPort?: number;
  wssPort?: number;
  tls?: TlsCredentials;
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
  maxMessageSize: number;
  /** SO_RCVBUF asked for on UDP sockets, bytes; 0 leaves the OS default. */
  udpReceiveBuffer?: number;
  /** Event-loop delay, ms, past which new work on streams is shed (0 or absent: never). */
  overloadLagMs?: number;
  /**
   * A worker thread does not bind UDP: it sends on this descriptor, the main thread's socket
   * or (`read`) one of its own on the same port that it reads (udp_reuseport.ts), and
   * receives the datagrams of its calls other threads read.
   */
  udpSocket?: { fd: number; local: Address; owner: FlowOwner; read?: boolean };
  /** Several workers bind the same stream ports (SO_REUSEPORT). */
  reusePort: boolean;
}

export class Listeners {
  udp?: UdpTransport | UdpFdSender;
  /** How far behind the reader of this thread's UDP socket is. */
  overload?: ReceiveQueueWatch;
  /** A worker thread's read loop on its own UDP socket. */
  #udpReader?: UdpSocketReader;
  /** Whether this isolate is behind on its stream connections. */
  streamLoad?: StreamLoadWatch;
  tcp?: TcpTransport;
  tls?: TcpTransport;
  ws?: WsTransport;
  wss?: WsTransport;

  /**
   * Opens every configured listener not open yet, but only the stream ones whose port
   * `streamsNow` allows (the rest at a later call); throws (naming the port) when one
   * cannot bind.
   */
  open(
    o: ListenerOptions,
    sink: TransportSink,
    admit: (headers: Headers) => Admission,
    streamsNow: (port: number) => boolean = () => true,
  ): void {
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
    const reusePort = o.reusePort;
    if (this.udp) {
      // Opened at an earlier call.
    } else if (o.udpSocket) {
      const { fd, local, owner, read } = o.udpSocket;
      const udp = this.udp = new UdpFdSender(fd, local, owner);
      const reader = read &&
        UdpSocketReader.forDescriptor(fd, sink, (h, p) => udp.flowTo(h, p), max);
      if (reader) {
        const buffer = intOption(fd, SOL_SOCKET, SO_RCVBUF) ?? DEFAULT_UDP_RCVBUF;
        this.overload = new ReceiveQueueWatch(local.host, local.port, buffer, WORKER_SAMPLE_MS, fd);
        this.#udpReader = reader;
        reader.run();
      }
    } else if (o.udpPort !== undefined) {
      const port = o.udpPort;
      const udp = bind(
        "udp",
        port,
        (h) => new UdpTransport(h, port, sink, max, o.udpReceiveBuffer),
      );
      this.udp = udp;
      log.info(`udp receive buffer: ${udp.receiveBuffer ?? "OS default"} bytes`);
      this.overload = new ReceiveQueueWatch(
        udp.local.host,
        udp.local.port,
        udp.receiveBuffer ?? DEFAULT_UDP_RCVBUF,
      );
      udp.run();
    }
    const streams = [o.tcpPort, o.tlsPort, o.wsPort, o.wssPort].some((p) => p !== undefined);
    const load = this.streamLoad ??= streams
      ? new StreamLoadWatch(o.overloadLagMs ?? 0)
      : undefined;
    const due = (port?: number, open?: unknown): port is number =>
      port !== undefined && !open && streamsNow(port);
    if (due(o.tcpPort, this.tcp)) {
      const port = o.tcpPort;
      this.tcp = bind(
        "tcp",
        port,
        (h) => new TcpTransport(h, port, sink, max, undefined, reusePort, load),
      );
      this.tcp.run();
    }
    if (o.tlsPort !== undefined || o.wssPort !== undefined) {
      if (!o.tls) throw new Error("TLS and WSS need a certificate and key (-c, -k)");
    }
    if (due(o.tlsPort, this.tls)) {
      const port = o.tlsPort;
      this.tls = bind(
        "tls",
        port,
        (h) => new TcpTransport(h, port, sink, max, o.tls, reusePort, load),
      );
      this.tls.run();
    }
    const ws = (port: number, tls?: TlsCredentials) =>
      bind(tls ? "wss" : "ws", port, (hostname) =>
        new WsTransport(
          {
            hostname,
            port,
            tls,
            admit,
            maxMessageSize: o.webSocketLimits.maxMessageSize,
            maxFragments: o.webSocketLimits.maxFragments,
            maxHeaderBytes: o.webSocketLimits.maxHeaderSize,
            pingInterval: o.webSocketLimits.pingInterval,
            pingTimeout: o.webSocketLimits.pingTimeout,
            handshakeTimeoutMs: o.webSocketLimits.handshakeTimeout * 1000,
            sendTimeoutMs: o.webSocketLimits.sendTimeout,
            reusePort,
            load,
          },
          sink,
        ));
    if (due(o.wsPort, this.ws)) this.ws = ws(o.wsPort);
    if (due(o.wssPort, this.wss)) this.wss = ws(o.wssPort, o.tls);
  }

  /** Bound listeners, for the API, dashboard and tests. */
  listening(): { transport: TransportName; local: Address }[] {
    const out: { transport: TransportName; local: Address }[] = [];
    if (this.udp) out.push({ transport: "udp", local: this.udp.local });
    if (this.tcp) out.push({ transport: "tcp", local: this.tcp.local });
    if (this.tls) out.push({ transport: "tls", local: this.tls.local });
    if (this.ws) out.push({ transport: "ws", local: this.ws.local });
    if (this.wss) out.push({ transport: "wss", local: this.wss.local });
    return out;
  }

  udpSocket(): UdpTransport | UdpFdSender {
    const udp = this.udp;
    if (!udp) throw new Error("UDP is not enabled");
    return udp;
  }

  /**
   * New TLS and WSS handshakes use `tls`; established connections keep their session.
   * Throws at once, changing nothing, when the certificate/key pair is unusable. The
   * promise settles when both listeners are bound again (it rejects, naming the
   * transport, only if a port could not be bound again).
   */
  reloadCertificates(tls: TlsCredentials): Promise<void> {
    const swaps = [
      this.tls?.reloadCertificate(tls).catch((e) => Promise.reject(new Error(`tls: ${e}`))),
      this.wss?.reloadCertificate(tls).catch((e) => Promise.reject(new Error(`wss: ${e}`))),
    ];
    const done = Promise.all(swaps).then(() => {});
    // Handled here too, so a caller that does not await cannot cause an unhandled rejection.
    done.catch((e) => log.error(`certificate reload: ${e instanceof Error ? e.message : e}`));
    return done;
  }

  /** Closes the UDP, TCP and TLS sockets (the layer closes connections next). */
  closeSockets(): void {
    this.overload?.close();
    this.streamLoad?.close();
    this.#udpReader?.close();
    this.udp?.close();
    this.tcp?.close();
    this.tls?.close();
  }

  /** Closes the WebSocket listeners, with their connections. */
  async closeWebSockets(): Promise<void> {
    await Promise.all([this.ws?.close(), this.wss?.close()]);
  }
}
