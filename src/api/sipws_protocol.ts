/**
 * @module The SIPWS control protocol on `/`: `POST /` with JSON `{q, domain, key, ...}`
 * where q is start, stop (really stop and start accepting SIP), clear, list (registry
 * addresses) or put (`data` entries with `o` "+" add/edit, "-" delete; optional `domains`
 * `[{domain, control, secret, calls}]`; `v` answered is the version before the update); `GET /`
 * lists registered accounts. Answers keep SIPWS's
 * `q` and `errorcode` ("0" done, "1" key missing or wrong, "2" bad request, "3" store
 * failure) besides the API's JSON error object. The key may be in the body or a Bearer
 * header and is checked against every configured key.
 */
import type { Context, Hono } from "hono";
import { StoreError, StoreUnavailableError } from "../store/account.ts";
import { applySipwsRequest } from "../store/open_store.ts";
import { parseSipwsRequest } from "../store/sipws_request.ts";
import type { ApiServer } from "./app.ts";
import {
  ApiError,
  bearerKey,
  checkKey,
  errorBody,
  invalidField,
  type JsonObject,
  objectBody,
  optionalString,
} from "./errors.ts";
import { bindingsOf, type RegistryAddress, registryAddress } from "./registry_view.ts";
import { removeOrphanBindings } from "../core/binding.ts";

export const SIGNALS = ["start", "stop", "clear", "list", "put"] as const;
export type Signal = typeof SIGNALS[number];

/** Registry addresses of one domain ("" = all), optionally only the registered ones. */
export function registry(
  server: ApiServer,
  domain?: string,
  onlyRegistered = false,
): RegistryAddress[] {
  const now = Date.now();
  const out: RegistryAddress[] = [];
  for (const account of server.store.listAccounts(domain || undefined)) {
    const bindings = bindingsOf(server.registrations, account.domain, account.user);
    if (onlyRegistered && bindings.length === 0) continue;
    out.push(registryAddress(account, bindings, now));
  }
  return out;
}

function fail(c: Context, q: string | undefined, error: unknown) {
  let status: 400 | 401 | 403 | 500 | 503;
  let errorcode: string;
  let body;
  if (error instanceof ApiError) {
    status = error.status === 401 || error.status === 403 ? error.status : 400;
    errorcode = status === 400 ? "2" : "1";
    body = errorBody(error.code, error.message, error.field);
  } else if (error instanceof StoreError && error.field !== undefined) {
    status = 400;
    errorcode = "2";
    body = errorBody("invalid_field", error.message, error.field);
  } else if (error instanceof StoreUnavailableError) {
    status = 503;
    errorcode = "3";
    body = errorBody("unavailable", error.message);
  } else {
    status = 500;
    errorcode = "3";
    body = errorBody("internal", error instanceof StoreError ? error.message : "internal error");
  }
  return c.json({ ...(q === undefined ? {} : { q }), errorcode, ...body }, status);
}

async function handle(server: ApiServer, doc: JsonObject, header?: string) {
  const q = doc.q;
  if (typeof q !== "string" || !(SIGNALS as readonly string[]).includes(q)) {
    throw invalidField("q", `must be one of ${SIGNALS.join(", ")}`);
  }
  const signal = q as Signal;
  checkKey(server.config.keys, optionalString(doc, "key") || header);
  const domain = optionalString(doc, "domain") || undefined;
  switch (signal) {
    case "start":
    case "stop":
      server.transport.setAccepting(signal === "start");
      return { q: signal, errorcode: "0" };
    case "clear": {
      const v = server.store.version();
      await server.store.clear(domain);
      removeOrphanBindings(server.registrations, server.store, domain);
      return { q: signal, errorcode: "0", v };
    }
    case "list":
      return { q: signal, errorcode: "0", registry: registry(server, domain) };
    case "put": {
      const request = parseSipwsRequest(doc);
      const v = server.store.version();
      await applySipwsRequest(server.store, request);
      if (request.changes.some((change) => change.op === "delete")) {
        removeOrphanBindings(server.registrations, server.store);
      }
      return { q: signal, errorcode: "0", v };
    }
  }
}

export function sipwsRoutes(app: Hono, server: ApiServer): void {
  app.post("/", async (c) => {
    let q: string | undefined;
    try {
      const doc = objectBody(await c.req.text());
      if (typeof doc.q === "string") q = doc.q;
      return c.json(await handle(server, doc, bearerKey(c.req.header("authorization"))));
    } catch (error) {
      return fail(c, q, error);
    }
  });

  app.get("/", (c) => {
    try {
      checkKey(server.config.keys, bearerKey(c.req.header("authorization")) ?? c.req.query("key"));
      const all = c.req.query("all") === "1" || c.req.query("all") === "true";
      const domain = c.req.query("domain");
      return c.json({ q: "list", errorcode: "0", registry: registry(server, domain, !all) });
    } catch (error) {
      return fail(c, "list", error);
    }
  });
}
