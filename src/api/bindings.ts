/**
 * @module Every contact binding of the location service on `/bindings`: `GET /bindings`
 * lists them all (contact, flow, expiry, pings, RFC 5626 instance/reg-id) with a stable
 * URL-safe `id`, and `DELETE /bindings/{id}` removes exactly that binding (admin). The id
 * encodes the AOR and the location service's binding key, so it survives refreshes and
 * needs no table of its own. It reads and removes bindings only; the mediaswitch-shaped `/reg`
 * views stay in registrations.ts.
 */
import type { Hono } from "hono";
import { type Binding, bindingId } from "../core/location.ts";
import type { ApiServer } from "./app.ts";
import { ApiError } from "./errors.ts";

/** One binding as `GET /bindings` shows it. */
export interface BindingEntry {
  id: string;
  aor: string;
  domain: string;
  user: string;
  contact: string;
  transport: string;
  remote: { host: string; port: number };
  flowId: string;
  userAgent?: string;
  /** Epoch ms. */
  expiresAt: number;
  /** Epoch ms. */
  registeredAt: number;
  outstandingPings: number;
  instance?: string;
  regId?: number;
  /** In a cluster: the node the binding is registered on. */
  node?: string;
}

/** `localNode`: this node's id in a cluster (a binding of another node names it in its flow). */
export function bindingEntry(b: Binding, localNode?: string): BindingEntry {
  const entry: BindingEntry = {
    id: bindingId(b),
    aor: b.aor,
    domain: b.domain,
    user: b.user,
    contact: b.contact,
    transport: b.flow.transport,
    remote: { host: b.flow.remote.host, port: b.flow.remote.port },
    flowId: b.flow.id,
    expiresAt: b.expiresAt,
    registeredAt: b.registeredAt,
    outstandingPings: b.outstandingPings,
  };
  if (b.userAgent !== undefined) entry.userAgent = b.userAgent;
  if (b.instance !== undefined) entry.instance = b.instance;
  if (b.regId !== undefined) entry.regId = b.regId;
  if (localNode !== undefined) entry.node = b.flow.owner?.node ?? localNode;
  return entry;
}

export function bindingRoutes(app: Hono, server: ApiServer): void {
  app.get("/bindings", (c) => {
    const now = Date.now();
    const node = server.cluster?.id;
    const bindings = server.registrations.all()
      .filter((b) => b.expiresAt > now)
      .sort((a, b) => a.aor.localeCompare(b.aor) || a.registeredAt - b.registeredAt)
      .map((b) => bindingEntry(b, node));
    return c.json({ count: bindings.length, bindings });
  });

  app.delete("/bindings/:id", (c) => {
    const id = c.req.param("id");
    const binding = server.registrations.byId(id);
    if (!binding || !server.registrations.remove(binding, "admin")) {
      throw new ApiError(404, "not_found", `no such binding: ${id}`);
    }
    return c.body(null, 204);
  });
}
