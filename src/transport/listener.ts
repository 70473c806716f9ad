/**
 * @module A TCP or TLS listening socket whose accept loop survives certificate reloads,
 * shared by TLS (tcp.ts) and WSS (ws.ts), and the certificate pair it is opened with.
 */
import { normalizeHost } from "./address.ts";
import { setListenerNoDelay } from "./socket_options.ts";
import type { Address } from "./types.ts";

export interface TlsCredentials {
  cert: string;
  key: string;
}

/**
 * Throws when Deno's TLS stack refuses the pair (bad PEM, no key, key not matching the
 * certificate). Checked on an ephemeral port so a bad file never touches a live listener.
 */
export function checkCredentials(hostname: string, tls: TlsCredentials): void {
  Deno.listenTls({ hostname, port: 0, cert: tls.cert, key: tls.key }).close();
}

/** Pause after an accept error that is not one peer's (e.g. EMFILE), before accepting again. */
const ACCEPT_BACKOFF_MS = 100;

/**
 * Accept errors caused by one peer that went away before it was accepted (RST while in
 * the listen queue: Deno's accept then fails reading the peer address with ENOTCONN).
 * They say nothing about the listener, so they must not slow it.
 */
function isPeerError(error: unknown): boolean {
  return error instanceof Deno.errors.NotConnected ||
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionAborted;
}

/** Binding the old port again is retried this often, `REBIND_DELAY_MS` apart. */
const REBIND_ATTEMPTS = 100;
const REBIND_DELAY_MS = 10;

/**
 * A TCP or TLS listener with an accept loop that survives certificate reloads: `reload`
 * closes the listening socket and opens a new one on the same port with the new
 * certificate, while connections already accepted keep their TLS session. Deno frees the
 * port only once the accept pending on the old socket has settled (a later macrotask), so
 * the bind is retried briefly; connection attempts in that gap of about a millisecond are
 * refused and the client retries. Shared by TLS (`TcpTransport`) and WSS (`ws.ts`).
 */
export class ReloadableListener {
  readonly local: Address;
  #hostname: string;
  #tls?: TlsCredentials;
  #listener: Deno.Listener;
  #adopt: (conn: Deno.Conn) => void;
  /** SO_REUSEPORT: every worker listens on the port and the kernel spreads connections. */
  #reusePort: boolean;
  /** Settles when the swap in progress is over (never rejects). */
  #swap?: Promise<void>;
  #running = false;
  #stopped = false;
  /** Set when the listener could not be given TCP_NODELAY (see `#open`). */
  #noDelayEach = false;

  constructor(
    hostname: string,
    port: number,
    tls: TlsCredentials | undefined,
    adopt: (conn: Deno.Conn) => void,
    reusePort = false,
  ) {
    this.#hostname = hostname;
    this.#reusePort = reusePort;
    this.#tls = tls;
    this.#adopt = adopt;
    this.#listener = this.#open(port, tls);
    const addr = this.#listener.addr as Deno.NetAddr;
    this.local = { host: normalizeHost(addr.hostname), port: addr.port };
  }

  #open(port: number, tls?: TlsCredentials): Deno.Listener {
    const hostname = this.#hostname;
    const reusePort = this.#reusePort;
    // Deno.listenTls honours reusePort too, though its options type does not list it.
    const listener = tls
      ? Deno.listenTls(
        { hostname, port, cert: tls.cert, key: tls.key, reusePort } as
          & Deno.ListenTlsOptions
          & Deno.TlsCertifiedKeyPem,
      )
      : Deno.listen({ hostname, port, reusePort });
    // Nagle off for every connection accepted (they inherit it); where that cannot be set
    // on the listener, plain TCP connections get it one by one (TLS ones cannot).
    const bound = (listener.addr as Deno.NetAddr).port;
    this.#noDelayEach = !setListenerNoDelay(bound, normalizeHost(hostname));
    return listener;
  }

  /** Accept loop; never throws. Ends on `close()` or when a reload could not re-bind. */
  async run(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      while (!this.#stopped) {
        const listener = this.#listener;
        let failed = false;
        let onePeer = false;
        try {
          for await (const conn of listener) {
            if (this.#noDelayEach && "setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
            this.#adopt(conn);
          }
        } catch (error) {
          failed = true;
          onePeer = isPeerError(error);
        }
        // A reload closed it: continue on the new listener once it is bound.
        if (this.#swap) await this.#swap;
        if (this.#stopped) return;
        if (listener !== this.#listener) continue;
        if (!failed) return; // closed, and no replacement: nothing left to accept on
        // One peer that reset before we accepted it: accept the next one at once.
        if (onePeer) continue;
        // Out of descriptors or memory: the loop must not stop, nor spin; back off.
        await delay(ACCEPT_BACKOFF_MS);
      }
    } finally {
      this.#running = false;
    }
  }

  /**
   * New handshakes use `tls`. Throws synchronously, changing nothing, when the pair is
   * unusable; the returned promise settles once the new listener is bound (it rejects only
   * if the port could not be bound again).
   */
  reload(tls: TlsCredentials): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    checkCredentials(this.#hostname, tls);
    const previous = this.#swap;
    const swap = (async () => {
      await previous;
      if (this.#stopped) return;
      this.#tls = tls;
      try {
        this.#listener.close();
      } catch { /* closed already (an earlier re-bind failed) */ }
      const next = await this.#rebind();
      if (this.#stopped) {
        next.close();
        return;
      }
      this.#listener = next;
      if (!this.#running) this.run(); // the loop ended after an earlier failed re-bind
    })();
    const settled: Promise<void> = swap.then(() => {}, () => {});
    this.#swap = settled;
    settled.then(() => {
      if (this.#swap === settled) this.#swap = undefined;
    });
    return swap;
  }

  async #rebind(): Promise<Deno.Listener> {
    for (let attempt = 1;; attempt++) {
      await delay(attempt === 1 ? 0 : REBIND_DELAY_MS);
      try {
        return this.#open(this.local.port, this.#tls);
      } catch (error) {
        if (!(error instanceof Deno.errors.AddrInUse) || attempt >= REBIND_ATTEMPTS) {
          throw new Error(`cannot listen again on port ${this.local.port}: ${String(error)}`);
        }
      }
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
