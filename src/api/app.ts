/**
 * @module The HTTP control API as one Hono app: key check (Bearer header; the SIPWS
 * routes also take `key` from the body), JSON errors for everything (bad JSON, bad field,
 * unknown path, wrong method, unexpected failure) and the route groups of the sibling
 * modules (the SIPWS protocol, the mediaswitch directory and registrations, views, metrics, OpenAPI).
 * It serves nothing by itself (http_server.ts does) and never touches SIP directly.
 */
import { Hono } from "hono";
import { banRoutes } from "./bans.ts";
import { bindingRoutes } from "./bindings.ts";
import { callRoutes } from "./calls.ts";
import { CallError } from "../core/calls/types.ts";
import type { DialogView } from "../events.ts";
import type { Server } from "../server.ts";
import { StoreError, StoreUnavailableError } from "../store/account.ts";
import { Logger } from "../log.ts";
import { daysLeft, EXPIRY_WARNING_DAYS } from "../transport/certificate.ts";
import type { FailedCallback } from "./callbacks.ts";
import { directoryRoutes } from "./directory.ts";
import { eventStreamRoutes } from "./event_stream.ts";
import { failedCallbackRoutes } from "./failed_callbacks.ts";
import { ApiError, bearerKey, checkKey, errorBody } from "./errors.ts";
import { metricsText } from "./metrics.ts";
import { openApiDocument } from "./openapi.ts";
import { registrationRoutes } from "./registrations.ts";
import { sipwsRoutes } from "./sipws_protocol.ts";
import { viewRoutes } from "./views.ts";
import { wsAdminRoutes } from "./ws_admin.ts";

/** Where `GET /dialog` reads active dialogs (the proxy's dialog tracker). */
export interface DialogSource {
  list(): DialogView[];
}

/** What the API needs from the running server (`dialogs` once the proxy provides it). */
export type ApiServer = Server & { readonly dialogs?: DialogSource };

/** Control-server callbacks as the API sees them: counts for /metrics, failures kept. */
export interface CallbackStats {
  pending(): number;
  failed(): FailedCallback[];
  /** Sends a kept failure again; false when `id` is unknown. */
  retry(id: number): boolean;
}

export interface ApiOptions {
  callbacks?: CallbackStats;
  /** sipws's version, shown by `/healthz` to key holders. */
  version?: string;
  /** Aborted when the HTTP listener shuts down: `GET /events` streams end. */
  closing?: AbortSignal;
}

const log = new Logger("api");

/**
 * Paths that answer without a key: liveness only, it reveals nothing. `/healthz` adds the
 * version, listening addresses and the certificate's expiry only when a valid key comes
 * with the request.
 */
const OPEN_PATHS = new Set(["/healthz"]);
/** SIPWS protocol routes check the key themselves (it may be in the body). */
const SELF_CHECKED = new Set(["/"]);

/** True when the Authorization header carries a configured key (never throws). */
function hasValidKey(keys: readonly string[], header: string | undefined): boolean {
  try {
    checkKey(keys, bearerKey(header));
    return true;
  } catch {
    return false;
  }
}

export function createApiApp(server: ApiServer, options: ApiOptions = {}): Hono {
  // strict: false so the mediaswitch API's `GET /reg/` (trailing slash) matches `/reg`.
  const app = new Hono({ strict: false });

  app.use("*", async (c, next) => {
    const path = c.req.path;
    if (!OPEN_PATHS.has(path) && !SELF_CHECKED.has(path)) {
      checkKey(server.config.keys, bearerKey(c.req.header("authorization")));
    }
    // With several workers, what they counted and hold so far is read, not 50 ms old figures;
    // and a change (a ban lifted, a binding removed, an account written) holds in every
    // worker once answered.
    await server.sync();
    await next();
    if (c.req.method !== "GET" && c.req.method !== "HEAD") await server.settle();
    server.counters.inc("http_requests_total", {
      method: c.req.method,
      status: String(c.res.status),
    });
  });

  app.get("/healthz", (c) => {
    const health: Record<string, unknown> = {
      status: "ok",
      accepting: server.transport.accepting,
      uptime: Math.floor((Date.now() - server.startedAt) / 1000),
    };
    const cluster = server.cluster;
    if (cluster) {
      // Without Redis the node still serves what it has: degraded, not down.
      if (!cluster.redisUp) health.status = "degraded";
      health.cluster = {
        node: cluster.id,
        redis: cluster.redisUp ? "reachable" : "unreachable",
        nodes: [...cluster.nodes].map(([id, info]) => ({
          id,
          alive: info !== undefined,
          advertise: info?.advertise,
        })),
      };
    }
    if (hasValidKey(server.config.keys, c.req.header("authorization"))) {
      if (options.version !== undefined) health.version = options.version;
      health.listening = server.transport.listening().map((l) => ({
        transport: l.transport,
        host: l.local.host,
        port: l.local.port,
      }));
      const cert = server.certificate();
      if (cert) {
        const days = daysLeft(cert);
        health.certificate = {
          subject: cert.subject,
          names: cert.names,
          notAfter: new Date(cert.notAfter).toISOString(),
          daysLeft: days,
          expiring: days < EXPIRY_WARNING_DAYS,
        };
      }
    }
    return c.json(health);
  });
  app.get("/openapi.json", (c) => c.json(openApiDocument()));
  app.get("/metrics", (c) => {
    const body = metricsText(server, { callbacksPending: options.callbacks?.pending() ?? 0 });
    return c.body(body, 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
  });
  sipwsRoutes(app, server);
  directoryRoutes(app, server);
  registrationRoutes(app, server);
  bindingRoutes(app, server);
  banRoutes(app, server);
  viewRoutes(app, server);
  wsAdminRoutes(app, server);
  eventStreamRoutes(app, server, options.closing);
  failedCallbackRoutes(app, options.callbacks);
  callRoutes(app, server);

  app.notFound((c) =>
    c.json(errorBody("not_found", `no such endpoint: ${c.req.method} ${c.req.path}`), 404)
  );
  app.onError((error, c) => {
    if (error instanceof ApiError) {
      return c.json(errorBody(error.code, error.message, error.field), error.status);
    }
    if (error instanceof CallError) {
      const code =
        ({ 400: "invalid_field", 404: "not_found", 409: "conflict", 503: "unavailable" } as const)[
          error.status
        ];
      const body = errorBody(code, error.message, error.field);
      return c.json(error.callId ? { ...body, callid: error.callId } : body, error.status);
    }
    if (error instanceof StoreUnavailableError) {
      return c.json(errorBody("unavailable", error.message), 503);
    }
    if (error instanceof StoreError) {
      const field = error.field;
      const code = field === undefined ? "internal" : "invalid_field";
      const status = field === undefined ? 500 : 400;
      return c.json(errorBody(code, error.message, field), status);
    }
    log.error(`${c.req.method} ${c.req.path} failed: ${String(error)}`);
    return c.json(errorBody("internal", "internal error"), 500);
  });
  return app;
}
