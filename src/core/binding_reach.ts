/**
 * @module How a binding is reached, and whether it outlives its connection .
 * Flow-bound bindings (WebSocket `.invalid` contacts, RFC 5626 Outbound, and with
 * `sip.tcp_bindings = "contact"` TCP/TLS contacts that are not the address the REGISTER
 * came from, e.g. behind NAT) are reached only over their flow and go when it closes. An
 * ordinary RFC 3261 TCP/TLS UA whose Contact is the address it registered from is kept:
 * RFC 3261 §18 lets either side close an idle connection, and a new one is opened to the
 * Contact when a request must reach it. Decisions only; the caller sends or removes.
 */
import { isInvalidHost } from "../transport/address.ts";
import type { Target } from "../transport/types.ts";
import type { CidrSet } from "../sip/cidr.ts";
import type { Binding } from "./binding.ts";

export interface TcpBindingsRule {
  /** `sip.tcp_bindings`: "flow" drops every TCP/TLS binding with its connection. */
  mode: "flow" | "contact";
  /**
   * `sip.tcp_contact_networks`: Contact addresses reached anew even when the REGISTER
   * came from another address (a network the proxy routes into, behind an SBC or router).
   */
  contactNetworks: CidrSet;
}

/** A binding that only its own flow reaches (RFC 7118 §5.2, RFC 5626 §5.3). */
function onlyItsFlow(b: Binding): boolean {
  return isInvalidHost(b.contactHost) || (b.instance !== undefined && b.regId !== undefined);
}

/**
 * True when the binding must go with its connection. UDP bindings have no connection;
 * TCP/TLS ones are kept under "contact" when the Contact is a transport address (not a
 * placeholder, not unspecified) whose host is the REGISTER's source host or in one of
 * the configured contact networks.
 */
export function goesWithFlow(b: Binding, rule: TcpBindingsRule): boolean {
  if (onlyItsFlow(b)) return true;
  const transport = b.flow.transport;
  if (transport === "ws" || transport === "wss") return true;
  if (transport === "udp") return false;
  if (rule.mode === "flow") return true;
  const host = b.contactAddress && unbracket(b.contactAddress.host);
  if (!host || host === "0.0.0.0" || host === "::") return true;
  return host !== b.flow.remote.host && !rule.contactNetworks.has(host);
}

/**
 * Where the proxy sends a request for a binding: its own stream flow while it is alive
 * (the phone may sit behind NAT); else the Contact address (UDP, or a new TCP/TLS
 * connection) unless only its flow reaches it; undefined when nothing does.
 */
export function bindingTarget(b: Binding, flowAlive: boolean): Target | undefined {
  if (onlyItsFlow(b)) return flowAlive ? { flow: b.flow } : undefined;
  if (flowAlive && b.flow.reliable) return { flow: b.flow };
  return b.contactAddress;
}

function unbracket(host: string): string {
  const h = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  return h.toLowerCase();
}
