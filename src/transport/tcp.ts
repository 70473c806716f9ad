/**
 * @module SIP over TCP and TLS: a listener that turns each accepted connection into a
 * `StreamConnection`, and outbound connects when a request must reach a peer we have no
 * connection to. TLS is TCP plus certificates; a new certificate applies to new
 * handshakes by re-opening the listener, existing connections stay.
 */
import { StreamConnection } from "./stream.ts";
import type { TransportSink } from "./connection.ts";
import { normalizeHost } from "./address.ts";
import type { Address } from "./types.ts";

export interface TlsCredentials {
  cert: string;
  key: string;
}

export class TcpTransport {
  readonly secure: boolean;
  local: Address;
  #listener: Deno.Listener;
  #hostname: string;
  #sink: TransportSink;
  #maxMessageSize: number;
  #tls?: TlsCredentials;
  #stopped = false;

  constructor(
    hostname: string,
    port: number,
    sink: TransportSink,
    maxMessageSize: number,
    tls?: TlsCredentials,
  ) {
    this.secure = tls !== undefined;
    this.#hostname = hostname;
    this.#sink = sink;
    this.#maxMessageSize = maxMessageSize;
    this.#tls = tls;
    this.#listener = this.#listen(port);
    const addr = this.#listener.addr as Deno.NetAddr;
    this.local = { host: normalizeHost(addr.hostname), port: addr.port };
  }

  #listen(port: number): Deno.Listener {
    return this.#tls
      ? Deno.listenTls({ hostname: this.#hostname, port, cert: this.#tls.cert, key: this.#tls.key })
      : Deno.listen({ hostname: this.#hostname, port });
  }

  /** Accept loop; survives listener swaps on certificate reload. Never throws. */
  async run(): Promise<void> {
    while (!this.#stopped) {
      const listener = this.#listener;
      try {
        for await (const conn of listener) this.#adopt(conn);
      } catch {
        // An accept error (e.g. out of file descriptors) must not stop the loop: back off.
        if (listener === this.#listener && !this.#stopped) await delay(100);
        continue;
      }
      // Ended without error: closed by close() or swapped by reloadCertificate().
      if (listener === this.#listener) return;
    }
  }

  #adopt(conn: Deno.Conn): void {
    const connection = new StreamConnection(conn, this.secure, this.#sink, this.#maxMessageSize);
    connection.run();
  }

  /** Opens a connection to a peer (outbound request with no existing flow). */
  async connect(host: string, port: number): Promise<StreamConnection> {
    const conn = this.#tls
      ? await Deno.connectTls({ hostname: host, port })
      : await Deno.connect({ hostname: host, port });
    const connection = new StreamConnection(conn, this.secure, this.#sink, this.#maxMessageSize);
    connection.run();
    return connection;
  }

  /**
   * New handshakes use the new certificate; established connections are untouched. If the
   * new certificate is refused (bad PEM), the old one is put back and this throws.
   */
  reloadCertificate(tls: TlsCredentials): void {
    if (!this.#tls || this.#stopped) return;
    const previous = this.#tls;
    this.#listener.close();
    // The accept loop in run() sees the swap when the old listener ends and continues.
    try {
      this.#tls = tls;
      this.#listener = this.#listen(this.local.port);
    } catch (error) {
      this.#tls = previous;
      this.#listener = this.#listen(this.local.port);
      throw error;
    }
  }

  close(): void {
    this.#stopped = true;
    try {
      this.#listener.close();
    } catch { /* closed already */ }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
