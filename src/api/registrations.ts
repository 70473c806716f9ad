/**
 * @module The mediaswitch registration views on `/reg`: `GET /reg` (`{count}` of every
 * registration), `GET /reg/{domain}` and `GET /reg/{domain}/{user}` with exactly the mediaswitch API's
 * shape (count, registered, users → registered, outstandingping, remote host/port/agent,
 * epochs), and `DELETE /reg/{domain}/{user}` to remove a user's bindings (admin; the
 * control server gets its DELETE callback). Reads the store and the location service only.
 */
import type { Hono } from "hono";
import type { ApiServer } from "./app.ts";
import { ApiError } from "./errors.ts";
import {
  bindingsOf,
  removeBindings,
  type UserRegistration,
  userRegistration,
} from "./registry_view.ts";

export interface DomainRegistrations {
  domain: string;
  count: number;
  registered: number;
  users: Record<string, UserRegistration>;
}

/** The mediaswitch registration body for a domain, optionally one user; undefined when unknown. */
export function domainRegistrations(
  server: ApiServer,
  domain: string,
  user?: string,
): DomainRegistrations | undefined {
  const d = domain.toLowerCase();
  const accounts = server.store.listAccounts(d);
  const names = new Set(accounts.map((a) => a.user));
  // Bindings whose account went meanwhile still show: the view reports what is live.
  for (const b of server.registrations.all()) if (b.domain.toLowerCase() === d) names.add(b.user);
  if (names.size === 0 && !server.store.getDomain(d)) return undefined;
  if (user !== undefined && !names.has(user)) return undefined;
  const users: Record<string, UserRegistration> = {};
  let registered = 0;
  for (const name of [...names].sort()) {
    if (user !== undefined && name !== user) continue;
    const state = userRegistration(
      bindingsOf(server.registrations, domainOf(server, d, name), name),
      server.cluster?.id,
    );
    if (state.registered) registered++;
    users[name] = state;
  }
  return { domain: d, count: user === undefined ? names.size : 1, registered, users };
}

/** The domain spelling the bindings of a user were saved under (To host as sent). */
function domainOf(server: ApiServer, domain: string, user: string): string {
  for (const b of server.registrations.all()) {
    if (b.user === user && b.domain.toLowerCase() === domain) return b.domain;
  }
  return domain;
}

export function registrationRoutes(app: Hono, server: ApiServer): void {
  app.get("/reg", (c) => c.json({ count: server.registrations.all().length }));

  app.get("/reg/:domain", (c) => {
    const view = domainRegistrations(server, c.req.param("domain"));
    if (!view) throw new ApiError(404, "not_found", `no such domain: ${c.req.param("domain")}`);
    return c.json(view);
  });

  app.get("/reg/:domain/:user", (c) => {
    const { domain, user } = c.req.param();
    const view = domainRegistrations(server, domain, user);
    if (!view) throw new ApiError(404, "not_found", `no such user: ${user}@${domain}`);
    return c.json(view);
  });

  app.delete("/reg/:domain/:user", (c) => {
    const { domain, user } = c.req.param();
    const removed = removeBindings(
      server.registrations,
      domainOf(server, domain.toLowerCase(), user),
      user,
    );
    if (removed === 0) throw new ApiError(404, "not_found", `${user}@${domain} is not registered`);
    return c.json({ domain: domain.toLowerCase(), user, removed });
  });
}
