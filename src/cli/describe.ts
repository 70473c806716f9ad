/**
 * @module One-line summaries of a Config for logs and `config check`, with every secret
 * (the `-w` key password, the HTTP API keys) replaced. Anything that logs configuration goes
 * through here; it must never print a secret, an HA1 or a password.
 */

import type { Config } from "../config/config.ts";

/** Transports that are enabled, as `udp:5060 tcp:5060 ws:8080`. */
export function describeTransports(config: Config): string {
  const parts: string[] = [];
  const add = (name: string, port: number | undefined) => {
    if (port !== undefined) parts.push(`${name}:${port}`);
  };
  add("udp", config.udpPort);
  add("tcp", config.tcpPort);
  add("tls", config.tlsPort);
  add("ws", config.wsPort);
  add("wss", config.wssPort);
  add("http", config.httpPort);
  return parts.join(" ") || "none";
}

/** A redacted, single-line summary of the whole config. */
export function describeConfig(config: Config): string {
  const safe: Record<string, unknown> = { ...config };
  if (config.certificatePassword !== undefined) safe.certificatePassword = "***";
  safe.keys = `${config.keys.length} key(s)`;
  const sip: Record<string, unknown> = { ...config.sip };
  if (config.sip.secret !== undefined) sip.secret = "***";
  if (config.sip.previousSecret !== undefined) sip.previousSecret = "***";
  safe.sip = sip;
  return `interface=${config.interface} ${describeTransports(config)} ` + JSON.stringify(safe);
}
