/**
 * @module The mediaswitch directory API on `/dir`: `PUT /dir/{domain}` replaces a whole domain
 * (control server, callback `secret`, users; 201), `PUT`/`PATCH /dir/{domain}/{user}` replace one user
 * (synonyms, as the mediaswitch API says: fields not given are kept), `GET /dir[/{domain}]` lists
 * without secrets (a domain says only whether its callbacks are `signed`), `DELETE /dir/{domain}[/{user}]` removes (and drops the bindings that
 * lose their account). Every change goes through the store and is durable before the
 * answer. `control` is accepted as a URL string or `{host, port}` and kept as a URL;
 * `calls: true` (with a control URL) offers the domain's inbound calls to it.
 */
import type { Context, Hono } from "hono";
import type { Account, AccountInput } from "../store/account.ts";
import type { ApiServer } from "./app.ts";
import {
  ApiError,
  invalidField,
  isObject,
  type JsonObject,
  objectBody,
  onlyKeys,
  optionalString,
} from "./errors.ts";
import { removeBindings } from "./registry_view.ts";
import { removeOrphanBindings } from "../core/binding.ts";

const USER_FIELDS = ["username", "secret", "cn", "description", "image"] as const;

/** `control` as a URL string or `{host, port}` → a base URL (no trailing slash). */
export function parseControl(value: unknown, field = "control"): string | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  let url: URL;
  if (typeof value === "string") {
    try {
      url = new URL(value);
    } catch {
      throw invalidField(field, "must be an http(s) URL or {host, port}");
    }
  } else if (isObject(value)) {
    onlyKeys(value, ["host", "port", "scheme"], `${field}.`);
    const host = value.host;
    const port = value.port;
    if (typeof host !== "string" || host === "" || /[\s/@]/.test(host)) {
      throw invalidField(`${field}.host`, "must be a host name or address");
    }
    if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw invalidField(`${field}.port`, "must be an integer 1..65535");
    }
    const scheme = value.scheme ?? "http";
    if (scheme !== "http" && scheme !== "https") {
      throw invalidField(`${field}.scheme`, 'must be "http" or "https"');
    }
    const h = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
    try {
      url = new URL(`${scheme}://${h}:${port}`);
    } catch {
      throw invalidField(`${field}.host`, "must be a host name or address");
    }
  } else {
    throw invalidField(field, "must be an http(s) URL or {host, port}");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw invalidField(field, "must be an http(s) URL");
  }
  return url.href.replace(/\/+$/, "");
}

function userInput(
  obj: JsonObject,
  at: string,
  domain: string,
  user: string,
  existing: Account | undefined,
): AccountInput {
  onlyKeys(obj, USER_FIELDS, at);
  const secret = optionalString(obj, "secret", `${at}secret`);
  const input: AccountInput = existing ? { ...existing } : { domain, user };
  delete (input as { ha1?: unknown }).ha1;
  if (existing) {
    // Keep the current digests unless a new secret comes.
    if (secret === undefined) input.ha1 = existing.ha1;
    else delete input.password;
  }
  if (secret !== undefined) {
    if (secret === "") throw invalidField(`${at}secret`, "must not be empty");
    input.password = secret;
  } else if (!existing) {
    throw invalidField(`${at}secret`, "is required for a new user");
  }
  for (const key of ["cn", "description", "image"] as const) {
    const value = optionalString(obj, key, `${at}${key}`);
    if (value !== undefined) input[key] = value;
  }
  return input;
}

function userView(a: Account) {
  const out: Record<string, string> = { username: a.user };
  if (a.cn) out.cn = a.cn;
  if (a.description) out.description = a.description;
  if (a.image) out.image = a.image;
  return out;
}

/** The directory entry of a domain, or undefined when it has no entry and no users. */
export function domainView(server: ApiServer, domain: string) {
  const entry = server.store.getDomain(domain);
  const users = server.store.listAccounts(domain);
  if (!entry && users.length === 0) return undefined;
  return {
    domain: entry?.domain ?? domain.toLowerCase(),
    ...(entry?.control ? { control: entry.control } : {}),
    ...(entry?.secret ? { signed: true } : {}),
    ...(entry?.calls ? { calls: true } : {}),
    users: users.map(userView),
  };
}

function notFound(what: string): ApiError {
  return new ApiError(404, "not_found", what);
}

async function putUser(c: Context, server: ApiServer) {
  const domain = c.req.param("domain")!;
  const user = c.req.param("user")!;
  const body = objectBody(await c.req.text());
  const existing = server.store.getAccount(domain, user);
  await server.store.putAccount(userInput(body, "", domain, user, existing));
  const saved = server.store.getAccount(domain, user);
  return c.json({ domain: domain.toLowerCase(), ...userView(saved!) }, existing ? 200 : 201);
}

export function directoryRoutes(app: Hono, server: ApiServer): void {
  app.get("/dir", (c) =>
    c.json({
      domains: server.store.listDomains().map((d) => ({
        domain: d.domain,
        ...(d.control ? { control: d.control } : {}),
        count: server.store.listAccounts(d.domain).length,
      })),
    }));

  app.put("/dir/:domain", async (c) => {
    const domain = c.req.param("domain");
    const body = objectBody(await c.req.text());
    onlyKeys(body, ["control", "secret", "users", "calls"]);
    const control = parseControl(body.control);
    // Absent keeps the current callback secret (a PUT never silently unsigns); "" clears it.
    const secret = body.secret === null
      ? ""
      : optionalString(body, "secret") ?? server.store.getDomain(domain)?.secret;
    if (body.calls !== undefined && typeof body.calls !== "boolean") {
      throw invalidField("calls", "must be true or false");
    }
    if (body.calls === true && !control) throw invalidField("calls", "needs a control URL");
    let users: AccountInput[] | undefined;
    if (body.users !== undefined) {
      if (!Array.isArray(body.users)) throw invalidField("users", "must be an array");
      const seen = new Set<string>();
      users = body.users.map((item, i) => {
        const at = `users[${i}].`;
        if (!isObject(item)) throw invalidField(`users[${i}]`, "must be an object");
        const username = optionalString(item, "username", `${at}username`);
        if (!username) throw invalidField(`${at}username`, "is required");
        if (seen.has(username)) throw invalidField(`${at}username`, "is repeated");
        seen.add(username);
        return userInput(item, at, domain, username, undefined);
      });
    }
    // Without `users` the domain keeps its users (only the control server changes).
    const calls = control && body.calls === true ? true : undefined;
    await server.store.putDomain({ domain, control, secret, calls }, users);
    removeOrphanBindings(server.registrations, server.store, domain);
    return c.json(domainView(server, domain), 201);
  });

  app.get("/dir/:domain", (c) => {
    const view = domainView(server, c.req.param("domain"));
    if (!view) throw notFound(`no such domain: ${c.req.param("domain")}`);
    return c.json(view);
  });

  app.delete("/dir/:domain", async (c) => {
    const domain = c.req.param("domain");
    if (!domainView(server, domain)) throw notFound(`no such domain: ${domain}`);
    await server.store.deleteDomain(domain);
    removeOrphanBindings(server.registrations, server.store, domain);
    return c.json({ domain: domain.toLowerCase(), deleted: true });
  });

  app.put("/dir/:domain/:user", (c) => putUser(c, server));
  app.patch("/dir/:domain/:user", (c) => putUser(c, server));

  app.get("/dir/:domain/:user", (c) => {
    const account = server.store.getAccount(c.req.param("domain"), c.req.param("user"));
    if (!account) throw notFound(`no such user: ${c.req.param("user")}@${c.req.param("domain")}`);
    return c.json({ domain: account.domain, ...userView(account) });
  });

  app.delete("/dir/:domain/:user", async (c) => {
    const domain = c.req.param("domain");
    const user = c.req.param("user");
    if (!(await server.store.deleteAccount(domain, user))) {
      throw notFound(`no such user: ${user}@${domain}`);
    }
    removeBindings(server.registrations, domain, user);
    removeOrphanBindings(server.registrations, server.store, domain);
    return c.json({ domain: domain.toLowerCase(), username: user, deleted: true });
  });
}
