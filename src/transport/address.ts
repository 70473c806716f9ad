/**
 * @module Address helpers of the transport edge: normalizing what sockets report
 * (IPv4-mapped IPv6), spotting RFC 7118 placeholder hosts, and choosing the address to
 * advertise in Via/Record-Route when bound to every interface.
 */

/** "::ffff:127.0.0.1" → "127.0.0.1"; brackets removed. */
export function normalizeHost(host: string): string {
  let h = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  if (h.toLowerCase().startsWith("::ffff:") && h.includes(".")) h = h.slice(7);
  return h.toLowerCase();
}

export function isLoopback(host: string): boolean {
  return host === "::1" || host.startsWith("127.");
}

/** RFC 7118 §5.2: `.invalid` hosts are placeholders and must never be resolved. */
export function isInvalidHost(host: string): boolean {
  return host.toLowerCase().endsWith(".invalid");
}

export function isWildcard(host: string): boolean {
  return host === "" || host === "0.0.0.0" || host === "::";
}

/** An interface address as `Deno.networkInterfaces()` lists it. */
export interface InterfaceAddress {
  family: string;
  address: string;
}

/**
 * The address to write into our own headers for a peer at `remoteHost`: the bound
 * address when there is one, else loopback for loopback peers, else the first
 * non-loopback address of the same family among `interfaces` (read once by the caller,
 * not per message).
 */
export function advertisedHost(
  boundHost: string,
  remoteHost: string | undefined,
  interfaces: readonly InterfaceAddress[],
): string {
  if (!isWildcard(boundHost)) return boundHost;
  const v6 = remoteHost !== undefined && remoteHost.includes(":");
  if (remoteHost === undefined || isLoopback(remoteHost)) return v6 ? "::1" : "127.0.0.1";
  const family = v6 ? "IPv6" : "IPv4";
  const candidate = interfaces.find((i) =>
    i.family === family && !isLoopback(i.address) && !i.address.startsWith("fe80")
  );
  return candidate?.address ?? (v6 ? "::1" : "127.0.0.1");
}
