/**
 * @module Translates sections of a `Config` into the options the layers below take ([abuse],
 * [websocket], `sip.tcp_bindings`, `workers`), at start and again at reload.
 */
import type { Config } from "../config/config.ts";
import type { TcpBindingsRule } from "../core/binding_reach.ts";
import { CidrSet } from "../sip/cidr.ts";
import type { AbuseOptions } from "../transport/abuse_guard.ts";
import type { HandshakePolicy } from "../transport/ws_policy.ts";

export function webSocketPolicy(config: Config): HandshakePolicy {
  const { allowedOrigins, checkHost, cors } = config.websocket;
  return { allowedOrigins, checkHost, cors };
}

/** WS client mode's CA file, read (PEM); undefined: the system roots. */
export async function readClientCa(config: Config): Promise<string[] | undefined> {
  const file = config.websocket.clientCaFile;
  if (!file) return undefined;
  try {
    return [await Deno.readTextFile(file)];
  } catch (error) {
    throw new Error(`cannot read [websocket] client_ca_file ${file}: ${String(error)}`);
  }
}

/** Which bindings go when their TCP connection closes (`sip.tcp_bindings`). */
export function tcpBindingsRule(config: Config): TcpBindingsRule {
  return {
    mode: config.sip.tcpBindings,
    contactNetworks: new CidrSet(config.sip.tcpContactNetworks),
  };
}

/** `[abuse]` as the guard takes it; a known-good source is one that authenticated within
 * `sip.max_expires` (every live registration refreshes within that time). */
export function abuseOptions(config: Config): AbuseOptions {
  const a = config.abuse;
  return {
    enabled: a.enabled,
    banAfter: a.banAfter,
    banWindowMs: a.banWindow * 1000,
    banTimeMs: a.banTime * 1000,
    rateLimit: a.rateLimit,
    maxConnectionsPerSource: a.maxConnectionsPerSource,
    maxConnections: a.maxConnections,
    trusted: new CidrSet(a.trusted),
    goodSourceMs: config.sip.maxExpires * 1000,
  };
}

/**
 * How many SIP workers a config asks for. `workers = 0` (the default): one per CPU core this
 * process may use (`navigator.hardwareConcurrency`), but one where worker threads could not
 * share the UDP socket (they send on it through libc: Linux and --allow-ffi); a number set
 * explicitly is taken as it is (and refused at start when UDP cannot be shared).
 */
export function workerCount(config: Config): number {
  if (config.workers > 0) return config.workers;
  const cores = navigator.hardwareConcurrency || 1;
  return config.udpPort === undefined || udpShareable() ? cores : 1;
}

function udpShareable(): boolean {
  return Deno.build.os === "linux" &&
    Deno.permissions.querySync({ name: "ffi" }).state === "granted";
}
