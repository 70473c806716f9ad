/**
 * @module WS client mode: opens WebSocket connections to next hops from our own WS/WSS
 * listener (its Via and Record-Route name it), so concurrent sends to one peer share the one
 * connection being opened.
 */
import type { Connection } from "./connection.ts";
import { remoteKey } from "./flow_table.ts";
import type { WsTransport } from "./ws.ts";

export interface WsDialLimits {
  maxMessageSize: number;
  maxFragments: number;
  /** Seconds. */
  handshakeTimeout: number;
}

export class WsDialer {
  /** Connections being opened, by remote key. */
  #dialing = new Map<string, Promise<Connection>>();
  readonly #limits: WsDialLimits;
  /** CA certificates (PEM) a WSS peer must chain to; unset: system roots (reloadable). */
  caCerts: string[] | undefined;

  constructor(limits: WsDialLimits, caCerts: string[] | undefined) {
    this.#limits = limits;
    this.caCerts = caCerts;
  }

  /** Dials `host`:`port` through `listener` (the WS or WSS one of this process). */
  dial(
    listener: WsTransport | undefined,
    transport: "ws" | "wss",
    host: string,
    port: number,
  ): Promise<Connection> {
    const key = remoteKey(transport, { host, port });
    const pending = this.#dialing.get(key);
    if (pending) return pending;
    // Our Via and Record-Route name our own listener of the kind, so one must exist.
    if (!listener) {
      return Promise.reject(new Error(`no ${transport} listener to dial ${host}:${port}`));
    }
    const limits = this.#limits;
    const dial = listener.connect(host, port, {
      caCerts: this.caCerts,
      maxMessageSize: limits.maxMessageSize,
      maxFragments: limits.maxFragments,
      timeoutMs: limits.handshakeTimeout * 1000,
    }).finally(() => this.#dialing.delete(key));
    this.#dialing.set(key, dial);
    return dial;
  }
}
