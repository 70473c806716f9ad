/**
 * @module The typed configuration every layer is built from. It owns the shape and the
 * embedded defaults only; reading TOML, legacy `sipws.cfg` and flags lives beside it and
 * produces a `Config`. Nothing here does I/O.
 */

import type { DigestAlgorithm } from "../sip/digest_hash.ts";

export interface Config {
  /** `-i`: address to bind; "" or "0.0.0.0" binds all IPv4 and IPv6 addresses. */
  interface: string;
  /** `-u`: SIP UDP port; undefined disables UDP. */
  udpPort?: number;
  /** `-t`: SIP TCP port. */
  tcpPort?: number;
  /** `--tls-port`: SIP over TLS port (new in sipws; `-s` is WSS as in SIPWS). */
  tlsPort?: number;
  /** `-p`: SIP over WebSocket port. */
  wsPort?: number;
  /** `-s`: SIP over secure WebSocket port. */
  wssPort?: number;
  /** `-r`: HTTP control API port. */
  httpPort?: number;
  /** `--workers`: SIP worker threads sharing every port; 0 (the default): one per CPU core. */
  workers: number;
  /** `-c`: certificate (PEM) for TLS and WSS. */
  certificate: string;
  /** `-k`: private key (PEM) for TLS and WSS. */
  privateKey: string;
  /** Seconds between checks of the certificate and key files for a change; 0 disables. */
  certificatePoll: number;
  /** `-w`: private key password. */
  certificatePassword?: string;
  /** `-d`: startup request JSON file (a SIPWS "put" request). */
  dataFile?: string;
  /** `-b`: writeable JSON database file (SIPWS format). */
  dbFile?: string;
  /** Embedded sqlite store path; used when `-b` is not given. */
  storePath: string;
  /** Keep plain passwords in the store instead of HA1 digests only. */
  storePlainPasswords: boolean;
  /** `-f`: stay attached, log to stderr. */
  foreground: boolean;
  /** `-v`..`-vvv`: 0 fatal only, 1 error, 2 warning, 3 debug. */
  verbosity: number;
  /** `-l`: locale name (accepted for compatibility). */
  locale?: string;
  /** `-8`: locale uses UTF-8. */
  utf8: boolean;
  /** positional `<key>...`: keys valid for the HTTP control API. */
  keys: string[];
  /** `--tui`: terminal dashboard. */
  tui: boolean;
  /** `--log-format`. */
  logFormat: "text" | "json";
  /** `--pid-file`: written in daemon mode. */
  pidFile: string;
  /** `--log-file`: also append log lines to this file (any mode). */
  logFile?: string;

  sip: {
    /** Domains served; empty means every domain that has accounts. */
    domains: string[];
    /** Realm challenge order; browsers read only the first challenge. */
    digestAlgorithms: DigestAlgorithm[];
    /** Seconds a nonce stays fresh before `stale=true`. */
    nonceTtl: number;
    minExpires: number;
    maxExpires: number;
    defaultExpires: number;
    /** Let requests to users of other domains through instead of 403. */
    allowForeignDomains: boolean;
    /** RFC 3261 timers in milliseconds. */
    t1: number;
    t2: number;
    t4: number;
    /** RFC 3261 §16.6 item 11 Timer C (INVITE branch without a final), ms; > 3 min. */
    timerC: number;
    /** Seconds a dialog stays listed without a BYE seen (a lost BYE must not pin it forever). */
    dialogTimeout: number;
    /** Largest message accepted on any transport, bytes. */
    maxMessageSize: number;
    /** UDP socket receive buffer asked of the kernel (SO_RCVBUF), bytes; 0: OS default. */
    udpReceiveBuffer: number;
    /**
     * How late the event loop may run, ms, before new requests on TCP/TLS/WS/WSS get 503
     * (stream_overload.ts); 0: never shed on streams.
     */
    overloadLagMs: number;
    /**
     * Resident memory per SIP worker, MiB, past which new requests get 503 (the process's
     * RSS against this × workers; server/memory_guard.ts); 0: never shed by memory.
     */
    overloadMemoryMb: number;
    /**
     * TCP/TLS bindings when their connection closes: "contact" keeps those whose Contact
     * is the address the REGISTER came from (no Outbound), "flow" drops them all.
     */
    tcpBindings: "flow" | "contact";
    /** CIDRs whose Contacts count as reachable although the REGISTER came from elsewhere. */
    tcpContactNetworks: string[];
    /** Name used in Server/User-Agent headers. */
    userAgent: string;
    /**
     * Key material for flow tokens (Record-Route) and digest nonces; every worker and node
     * of one deployment shares it. Unset: random per process (tokens and nonces die with it).
     */
    secret?: string;
    /** The secret before the last rotation: tokens and nonces signed with it still pass. */
    previousSecret?: string;
  };

  websocket: {
    /** Allowed Origins, exact or `https://*.example.com`; empty allows every origin. */
    allowedOrigins: string[];
    /** Refuse a handshake whose Host is not a served domain, alias or one of our addresses. */
    checkHost: boolean;
    /** Other names clients reach sipws by (a web front's name in the wss:// URL), for `checkHost`. */
    hostAliases: string[];
    /** Access-Control-Allow-Origin on the 101: none, `*`, or the Origin echoed. */
    cors: "none" | "any" | "origin";
    /** Seconds between CRLF keep-alives sent to clients; 0 disables. */
    keepaliveInterval: number;
    /** Seconds of silence before a WebSocket ping; 0 disables pings and idle closes. */
    pingInterval: number;
    /** Seconds after the ping with nothing heard before the client is closed. */
    pingTimeout: number;
    /** Largest WebSocket handshake request head, bytes (431 beyond). */
    maxHeaderSize: number;
    /** Largest WebSocket message, bytes (all its fragments); larger ones are dropped. */
    maxMessageSize: number;
    /** Most frames one message may come in (OpenSIPS ws_max_msg_chunks); 0: no limit. */
    maxFragments: number;
    /** Seconds for TCP/TLS accept to a complete upgrade request; slower peers are dropped. */
    handshakeTimeout: number;
    /** Milliseconds a write may wait for a client that reads nothing before it is closed. */
    sendTimeout: number;
    /** WS client mode: PEM CA file a WSS next hop must chain to; unset: system roots. */
    clientCaFile?: string;
  };

  ping: {
    /** Seconds between OPTIONS pings to registered contacts; 0 disables. */
    interval: number;
    /** Misses after which the binding is removed. */
    maxMisses: number;
  };

  /** Abuse protection: auth-failure bans, per-source rate limit, connection caps. */
  abuse: {
    /** Master switch; off leaves every request and connection through. */
    enabled: boolean;
    /** Failed authentications from one address within `banWindow` that ban it. */
    banAfter: number;
    /** Seconds over which failures are counted. */
    banWindow: number;
    /** Seconds a first ban lasts; each repeat within a day doubles it (at most 64 times). */
    banTime: number;
    /** Requests per second from one address (and on one connection); 0 disables. */
    rateLimit: number;
    /** Open connections from one address; 0 disables. */
    maxConnectionsPerSource: number;
    /** Open connections in all; 0 disables. */
    maxConnections: number;
    /** CIDRs exempt from bans, rate limits and connection caps. */
    trusted: string[];
  };

  /** Several nodes sharing accounts and registrations through Redis (off when `redis` is ""). */
  cluster: {
    /** `redis://[:password@]host:port/db` or `rediss://` (TLS); "" runs standalone. */
    redis: string;
    /** CA certificate (PEM file) that signs a `rediss://` server's; absent: the system's. */
    redisCaFile?: string;
    /** This node's name in Redis; "" means the host name. */
    nodeId: string;
    /** SIP URI other nodes relay to, e.g. `sip:10.0.0.2:5060;transport=tcp`; "" derives one. */
    advertise: string;
    /** Seconds a node's heartbeat lives: after it, its flow-bound bindings are removed. */
    heartbeatTtl: number;
  };

  callbacks: {
    /** Attempts per callback before it is dropped. */
    retries: number;
    /** First retry delay in milliseconds, doubled each time. */
    backoffMs: number;
    timeoutMs: number;
    /** HMAC-SHA256 key signing every callback; a domain's own `secret` wins. */
    secret?: string;
    /** Failed callbacks kept for `GET /callbacks/failed` (oldest dropped); 0 keeps none. */
    failedKept: number;
  };

  api: {
    /** Open calls placed or held through the API (originated + held inbound); more → 503. */
    maxCalls: number;
    /** Seconds the control server has to post the answer of a late-offer call (else BYE). */
    ackTimeout: number;
    /** Milliseconds sipws waits for `POST {control}/invite` to decide an inbound call. */
    decisionTimeoutMs: number;
  };
}

/** The embedded defaults: `sipws` with no file and no flags but a transport. */
export function defaultConfig(): Config {
  return {
    interface: "0.0.0.0",
    certificate: "server.pem",
    privateKey: "server.pem",
    certificatePoll: 2,
    storePath: "sipws.db",
    workers: 0,
    storePlainPasswords: false,
    foreground: false,
    verbosity: 0,
    utf8: false,
    keys: [],
    tui: false,
    logFormat: "text",
    pidFile: "sipws.pid",
    sip: {
      domains: [],
      digestAlgorithms: ["MD5", "SHA-256"],
      nonceTtl: 300,
      minExpires: 60,
      maxExpires: 3600,
      defaultExpires: 3600,
      allowForeignDomains: false,
      t1: 500,
      t2: 4000,
      t4: 5000,
      timerC: 180000,
      dialogTimeout: 43200,
      maxMessageSize: 81920,
      udpReceiveBuffer: 4194304,
      overloadLagMs: 200,
      // A bound, not a tuning: above everything measured with one worker (calls at 4,800/s
      // ~210 MB, call overload at 2x 566-691 MB), so it never sheds what the server can
      // finish; what a call load holds for 32 s (Timer L/M) is legitimate, and a budget under
      // it refuses most new calls until that state expires (256 MiB: a 2x call overload kept
      // a quarter of its rate; docs/performance.md). It bounds a runaway (the 1 GB drift of
      // issue 9's first soak), per worker since each isolate has its own heap.
      overloadMemoryMb: 1024,
      tcpBindings: "contact",
      tcpContactNetworks: [],
      userAgent: "sipws",
    },
    websocket: {
      allowedOrigins: [],
      checkHost: false,
      hostAliases: [],
      cors: "none",
      keepaliveInterval: 0,
      pingInterval: 30,
      pingTimeout: 20,
      maxHeaderSize: 16384,
      maxMessageSize: 81920,
      maxFragments: 32,
      handshakeTimeout: 10,
      sendTimeout: 10000,
    },
    ping: { interval: 30, maxMisses: 7 },
    abuse: {
      enabled: true,
      banAfter: 10,
      banWindow: 60,
      banTime: 600,
      rateLimit: 50,
      maxConnectionsPerSource: 100,
      maxConnections: 50000,
      trusted: [],
    },
    cluster: { redis: "", nodeId: "", advertise: "", heartbeatTtl: 10 },
    callbacks: { retries: 5, backoffMs: 500, timeoutMs: 5000, failedKept: 1000 },
    api: { maxCalls: 1000, ackTimeout: 10, decisionTimeoutMs: 2000 },
  };
}
