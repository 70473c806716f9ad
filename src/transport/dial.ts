/**
 * @module Outbound TCP and TLS connections with Nagle's algorithm off (TCP_NODELAY): SIP
 * writes small messages back to back (a provisional then a final, an ACK then a BYE), and
 * with Nagle each waits for the ACK of the one before, which the peer delays by up to
 * 40 ms. Deno's TLS connections have no `setNoDelay`, so TLS is started on a TCP connection
 * that already has it. Accepted connections inherit it from their listener (listener.ts).
 */

export interface DialOptions {
  /** Start TLS on the connection (verifying the peer against `caCerts` or system roots). */
  tls?: boolean;
  /** PEM CA certificates the peer may chain to; undefined: the system roots. */
  caCerts?: string[];
}

/** Connects to `host:port` (an IP literal), TCP_NODELAY set before any byte is written. */
export async function dial(
  host: string,
  port: number,
  options: DialOptions = {},
): Promise<Deno.Conn> {
  const tcp = await Deno.connect({ hostname: host, port });
  tcp.setNoDelay(true);
  if (!options.tls) return tcp;
  try {
    return await Deno.startTls(tcp, { hostname: host, caCerts: options.caCerts });
  } catch (error) {
    try {
      tcp.close();
    } catch { /* closed by the failed handshake */ }
    throw error;
  }
}
