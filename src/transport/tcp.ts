/**
 * @module SIP over TCP and TLS: a listener that turns each accepted connection into a
 * `StreamConnection`, and outbound connects when a request must reach a peer we have no
 * connection to. TLS is TCP plus certificates; a new certificate applies to new
 * handshakes by re-opening the listener, existing connections stay.
 */
import { dial } from "./dial.ts";
import { StreamConnection } from "./stream.ts";
import type { TransportSink } from "./connection.ts";
import { normalizeHost } from "./address.ts";
import { ReloadableListener, type TlsCredentials } from "./listener.ts";
import type { Address } from "./types.ts";
import type { StreamLoadWatch } from "./stream_overload.ts";

export class TcpTransport {
  readonly secure: boolean;
  local: Address;
  #listener: ReloadableListener;
  #sink: TransportSink;
  #maxMessageSize: number;
  #tls?: TlsCredentials;
  #load?: StreamLoadWatch;
  /** Connections being opened, by "host|port": concurrent sends to a peer share one. */
  #dialing = new Map<string, Promise<StreamConnection>>();

  constructor(
    hostname: string,
    port: number,
    sink: TransportSink,
    maxMessageSize: number,
    tls?: TlsCredentials,
    reusePort = false,
    load?: StreamLoadWatch,
  ) {
    this.secure = tls !== undefined;
    this.#sink = sink;
    this.#maxMessageSize = maxMessageSize;
    this.#tls = tls;
    this.#load = load;
    this.#listener = new ReloadableListener(
      hostname,
      port,
      tls,
      (conn) => this.#adopt(conn),
      reusePort,
    );
    this.local = this.#listener.local;
  }

  /** Accept loop; survives listener swaps on certificate reload. Never throws. */
  run(): Promise<void> {
    return this.#listener.run();
  }

  #adopt(conn: Deno.Conn): void {
    const remote = normalizeHost((conn.remoteAddr as Deno.NetAddr).hostname);
    if (!this.#sink.admit(remote, this.secure ? "tls" : "tcp")) {
      try {
        conn.close();
      } catch { /* reset by the peer already */ }
      return;
    }
    this.#serve(conn);
  }

  /**
   * Opens a connection to a peer (outbound request with no existing flow). Requests sent
   * while it is being opened wait for that one: a dial each would leave all but the last
   * open and unused (hundreds to a proxied callee when calls arrive faster than the
   * handshake completes).
   */
  connect(host: string, port: number): Promise<StreamConnection> {
    const key = `${host}|${port}`;
    const pending = this.#dialing.get(key);
    if (pending) return pending;
    const opened = dial(host, port, { tls: this.#tls !== undefined })
      .then((conn) => this.#serve(conn))
      .finally(() => this.#dialing.delete(key));
    this.#dialing.set(key, opened);
    return opened;
  }

  /** Reads and writes `conn` as a SIP stream connection from now on. */
  #serve(conn: Deno.Conn): StreamConnection {
    const connection = new StreamConnection(
      conn,
      this.secure,
      this.#sink,
      this.#maxMessageSize,
      this.#load,
    );
    connection.run();
    return connection;
  }

  /**
   * New handshakes use the new certificate; established connections are untouched. Throws
   * at once (nothing changed) when the pair is unusable; see `ReloadableListener.reload`.
   */
  reloadCertificate(tls: TlsCredentials): Promise<void> {
    if (!this.#tls) return Promise.resolve();
    const swapped = this.#listener.reload(tls);
    this.#tls = tls;
    return swapped;
  }

  close(): void {
    this.#listener.close();
  }
}
