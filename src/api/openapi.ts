/**
 * @module The OpenAPI 3.1 description of the HTTP control API, served at
 * `GET /openapi.json`. Hand-written next to the routes it describes; tests check that every
 * route the app answers is listed here. Data only; call control lives in
 * openapi_calls.ts.
 */
import { callPaths, callSchemas } from "./openapi_calls.ts";

export type Schema = Record<string, unknown>;

const STRING: Schema = { type: "string" };
const INTEGER: Schema = { type: "integer" };
/** The profile fields a user carries besides its name (mediaswitch directory API). */
const USER_PROFILE = { cn: STRING, description: STRING, image: STRING };

export const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });

export const json = (schema: Schema, description = "OK") => ({
  description,
  content: { "application/json": { schema } },
});

export const errors = {
  "400": json(ref("Error"), "invalid_json or invalid_field"),
  "401": json(ref("Error"), "no key presented"),
  "403": json(ref("Error"), "wrong key"),
};

const notFound = { "404": json(ref("Error"), "unknown domain, user or connection") };

export const pathParam = (name: string, description: string) => ({
  name,
  in: "path",
  required: true,
  schema: STRING,
  description,
});

const domain = pathParam("domain", "SIP domain, e.g. bling.babblevoice.com");
const user = pathParam("user", "user name, e.g. 1003");
const bindingIdParam = pathParam("id", "binding id from GET /bindings");
const wsId = pathParam("id", "connection id from GET /ws, e.g. ws:3fa09c1e.0.k2x9-7");

/** A listing answer: `count` and the array of `item` under `key`. */
const countedList = (key: string, item: string): Schema => ({
  type: "object",
  required: ["count", key],
  properties: { count: INTEGER, [key]: { type: "array", items: ref(item) } },
});

export const body = (schema: Schema) => ({
  required: true,
  content: { "application/json": { schema } },
});

export function openApiDocument(): Record<string, unknown> {
  return {
    openapi: "3.1.0",
    info: {
      title: "sipws control API",
      version: "1",
      description: "Provisioning and monitoring of sipws: SIPWS protocol on `/`, " +
        "mediaswitch directory and registrations, operator views and metrics. " +
        "Every endpoint but /healthz needs a key (`Authorization: Bearer <key>`; the " +
        "SIPWS POST also takes `key` in its body). Errors are JSON " +
        '`{"error": {"code", "field"?, "message"}}`.',
    },
    security: [{ bearer: [] }],
    paths: {
      "/": {
        post: {
          summary: "SIPWS control request (SIPWS protocol): start, stop, clear, list, put",
          requestBody: body(ref("SipwsRequest")),
          responses: { "200": json(ref("SipwsResponse")), ...errors },
        },
        get: {
          summary: "Registered accounts (SIPWS protocol GET); `?all=1` lists every account",
          parameters: [
            { name: "key", in: "query", schema: STRING },
            { name: "domain", in: "query", schema: STRING },
            { name: "all", in: "query", schema: { type: "string", enum: ["1", "true"] } },
          ],
          responses: { "200": json(ref("SipwsResponse")), ...errors },
        },
      },
      "/dir": {
        get: {
          summary: "Every domain with its control server and user count",
          responses: { "200": json({ type: "object" }), ...errors },
        },
      },
      "/dir/{domain}": {
        parameters: [domain],
        put: {
          summary: "Replace a whole domain: control server and (when given) its users",
          requestBody: body(ref("DomainRequest")),
          responses: { "201": json(ref("Domain"), "Created"), ...errors },
        },
        get: {
          summary: "The domain's directory entry (no secrets)",
          responses: { "200": json(ref("Domain")), ...errors, ...notFound },
        },
        delete: {
          summary: "Remove the domain, its users and their registrations",
          responses: { "200": json({ type: "object" }), ...errors, ...notFound },
        },
      },
      "/dir/{domain}/{user}": {
        parameters: [domain, user],
        put: {
          summary: "Add or replace one user (same as PATCH; fields not given are kept)",
          requestBody: body(ref("UserRequest")),
          responses: {
            "200": json(ref("User"), "Updated"),
            "201": json(ref("User"), "Created"),
            ...errors,
          },
        },
        patch: {
          summary: "Add or replace one user (same as PUT)",
          requestBody: body(ref("UserRequest")),
          responses: {
            "200": json(ref("User"), "Updated"),
            "201": json(ref("User"), "Created"),
            ...errors,
          },
        },
        get: {
          summary: "One user (no secret)",
          responses: { "200": json(ref("User")), ...errors, ...notFound },
        },
        delete: {
          summary: "Remove one user and its registrations",
          responses: { "200": json({ type: "object" }), ...errors, ...notFound },
        },
      },
      "/reg": {
        get: {
          summary: "Number of registrations on this server",
          responses: {
            "200": json({ type: "object", properties: { count: INTEGER } }),
            ...errors,
          },
        },
      },
      "/reg/{domain}": {
        parameters: [domain],
        get: {
          summary: "Registration state of every user of a domain (mediaswitch directory API)",
          responses: { "200": json(ref("Registrations")), ...errors, ...notFound },
        },
      },
      "/reg/{domain}/{user}": {
        parameters: [domain, user],
        get: {
          summary: "Registration state of one user (mediaswitch shape)",
          responses: { "200": json(ref("Registrations")), ...errors, ...notFound },
        },
        delete: {
          summary: "Remove the user's bindings (the control server gets DELETE)",
          responses: { "200": json({ type: "object" }), ...errors, ...notFound },
        },
      },
      "/bindings": {
        get: {
          summary: "Every live contact binding, with a stable id for DELETE /bindings/{id}; " +
            "in a cluster every node's, each with its `node`",
          responses: {
            "200": json(countedList("bindings", "Binding")),
            ...errors,
          },
        },
      },
      "/bindings/{id}": {
        delete: {
          summary: "Removes exactly this binding (admin); other bindings of the AOR stay",
          parameters: [bindingIdParam],
          responses: { "204": { description: "removed" }, ...errors, ...notFound },
        },
      },
      "/bans": {
        get: {
          summary: "Source addresses banned now by the abuse guard ([abuse]), soonest to end first",
          responses: {
            "200": json(countedList("bans", "Ban")),
            ...errors,
          },
        },
      },
      "/bans/{address}": {
        delete: {
          summary: "Lifts the ban on an address and forgets its failures and repeat count",
          parameters: [pathParam("address", "banned IPv4 or IPv6 address, e.g. 192.0.2.7")],
          responses: {
            "204": { description: "ban lifted" },
            ...errors,
            "404": json(ref("Error"), "no ban on this address"),
          },
        },
      },
      ...callPaths(),
      "/ws": {
        get: {
          summary: "WebSocket connections, sorted and paged; `?transport=all` adds TCP and TLS",
          parameters: [
            { name: "order", in: "query", schema: { type: "string", enum: ["id", "last_used"] } },
            { name: "dir", in: "query", schema: { type: "string", enum: ["asc", "desc"] } },
            { name: "limit", in: "query", schema: INTEGER, description: "default 1000" },
            { name: "offset", in: "query", schema: INTEGER },
            { name: "transport", in: "query", schema: { type: "string", enum: ["all"] } },
          ],
          responses: {
            "200": json({
              type: "object",
              properties: {
                count: { type: "integer", description: "rows before paging" },
                offset: INTEGER,
                limit: INTEGER,
                enabled: { type: "boolean", description: "false after POST /ws/disable" },
                connections: { type: "array", items: ref("Connection") },
              },
            }),
            ...errors,
          },
        },
      },
      "/ws/{id}/close": {
        parameters: [wsId],
        post: {
          summary: "Close a connection with an RFC 6455 close code (its bindings go; " +
            "ws.closed says by: admin)",
          requestBody: {
            required: false,
            content: {
              "application/json": {
                schema: {
                  type: "object",
                  properties: {
                    code: {
                      type: "integer",
                      description: "1000 (default), 1001-1003, " +
                        "1007-1014, 3000-4999",
                    },
                    reason: { type: "string", description: "at most 123 bytes" },
                  },
                },
              },
            },
          },
          responses: { "200": json({ type: "object" }), ...errors, ...notFound },
        },
      },
      "/ws/{id}/ping": {
        parameters: [wsId],
        post: {
          summary: "Ping a connection: an RFC 6455 Ping frame on WS/WSS, CRLFCRLF on TCP/TLS",
          responses: { "200": json({ type: "object" }), ...errors, ...notFound },
        },
      },
      "/ws/disable": {
        post: {
          summary: "Refuse new WebSocket handshakes with 503; open connections stay",
          responses: { "200": json({ type: "object" }), ...errors },
        },
      },
      "/ws/enable": {
        post: {
          summary: "Accept new WebSocket handshakes again",
          responses: { "200": json({ type: "object" }), ...errors },
        },
      },
      "/callbacks/failed": {
        get: {
          summary: "Control-server callbacks that failed their last retry (bounded, oldest first)",
          responses: {
            "200": json({
              type: "object",
              properties: { failed: { type: "array", items: ref("FailedCallback") } },
            }),
            ...errors,
          },
        },
      },
      "/callbacks/failed/retry": {
        post: {
          summary: "Send every failed callback again (signed afresh, through each user's queue)",
          responses: { "200": json(ref("Retried")), ...errors },
        },
      },
      "/callbacks/failed/{id}/retry": {
        post: {
          summary: "Send one failed callback again",
          parameters: [pathParam("id", "id from GET /callbacks/failed")],
          responses: { "200": json(ref("Retried")), ...errors, ...notFound },
        },
      },
      "/events": {
        get: {
          summary: "The server's events as Server-Sent Events (`event: <type>`, `data: <json>`): " +
            "registration.added|refreshed|removed, flow.opened|closed, ws.closed, auth.failed, " +
            "address.banned, dialog.changed, call.event, server.started|stopped. A client " +
            "reading too slowly (1000 events behind) is cut off",
          parameters: [{
            name: "types",
            in: "query",
            required: false,
            schema: STRING,
            description: "comma-separated event types to receive; default all",
          }],
          responses: {
            "200": { description: "OK", content: { "text/event-stream": { schema: STRING } } },
            ...errors,
          },
        },
      },
      "/metrics": {
        get: {
          summary: "Prometheus text exposition",
          responses: {
            "200": { description: "OK", content: { "text/plain": { schema: STRING } } },
            ...errors,
          },
        },
      },
      "/healthz": {
        get: {
          summary: "Liveness (no key needed); with a valid key also version, listening " +
            "addresses ({transport, host, port}) and the TLS/WSS certificate " +
            "({subject, names, notAfter, daysLeft, expiring: under 14 days}); in a cluster " +
            "`cluster: {node, redis: reachable|unreachable, nodes: [{id, alive, advertise}]}` " +
            "(status `degraded` while Redis is unreachable)",
          security: [],
          responses: { "200": json({ type: "object" }) },
        },
      },
      "/openapi.json": {
        get: {
          summary: "This document",
          responses: { "200": json({ type: "object" }), ...errors },
        },
      },
    },
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
      schemas: {
        Ban: {
          type: "object",
          required: ["address", "since", "until", "reason", "failures", "accounts", "realms"],
          properties: {
            address: STRING,
            since: { type: "integer", description: "epoch ms" },
            until: { type: "integer", description: "epoch ms" },
            reason: {
              type: "string",
              enum: ["auth_failures", "accounts_scanned"],
              description: "auth_failures: ban_after failures from an address with no " +
                "recent success; accounts_scanned: ban_after distinct accounts failed",
            },
            failures: INTEGER,
            accounts: { type: "array", items: STRING, description: "user@realm that failed" },
            realms: { type: "array", items: STRING },
            repeat: { type: "integer", description: "1 first ban; time doubles per repeat" },
          },
        },
        Binding: {
          type: "object",
          required: [
            "id",
            "aor",
            "domain",
            "user",
            "contact",
            "transport",
            "remote",
            "flowId",
            "expiresAt",
            "registeredAt",
            "outstandingPings",
          ],
          properties: {
            id: STRING,
            aor: STRING,
            domain: STRING,
            user: STRING,
            contact: STRING,
            transport: STRING,
            remote: { type: "object", properties: { host: STRING, port: INTEGER } },
            flowId: STRING,
            node: { type: "string", description: "in a cluster: the node it is registered on" },
            userAgent: STRING,
            expiresAt: { type: "integer", description: "epoch ms" },
            registeredAt: { type: "integer", description: "epoch ms" },
            outstandingPings: INTEGER,
            instance: STRING,
            regId: INTEGER,
          },
        },
        Error: {
          type: "object",
          required: ["error"],
          properties: {
            error: {
              type: "object",
              required: ["code", "message"],
              properties: {
                code: {
                  type: "string",
                  enum: [
                    "invalid_json",
                    "invalid_field",
                    "unauthorized",
                    "forbidden",
                    "not_found",
                    "internal",
                  ],
                },
                field: STRING,
                message: STRING,
              },
            },
          },
        },
        SipwsRequest: {
          type: "object",
          required: ["q"],
          properties: {
            q: { type: "string", enum: ["start", "stop", "clear", "list", "put"] },
            domain: STRING,
            key: STRING,
            v: INTEGER,
            data: {
              type: "array",
              items: {
                type: "object",
                required: ["u"],
                properties: {
                  o: { type: "string", enum: ["+", "-"] },
                  u: STRING,
                  k: { type: "string", description: "password" },
                  cn: STRING,
                  description: STRING,
                  i: { type: "string", description: "image URI" },
                },
              },
            },
            domains: {
              type: "array",
              description: 'domain entries to update (given fields replace, "" clears)',
              items: {
                type: "object",
                required: ["domain"],
                properties: {
                  domain: STRING,
                  control: STRING,
                  secret: { type: "string", description: "signs this domain's callbacks" },
                  calls: {
                    type: "boolean",
                    description: "offer inbound calls to the control server",
                  },
                },
              },
            },
          },
        },
        Connection: {
          type: "object",
          properties: {
            id: STRING,
            transport: STRING,
            remote: { type: "object", properties: { host: STRING, port: INTEGER } },
            local: { type: "object", properties: { host: STRING, port: INTEGER } },
            origin: STRING,
            age: { type: "integer", description: "seconds open" },
            messages: { type: "object", properties: { in: INTEGER, out: INTEGER } },
            bytes: { type: "object", properties: { in: INTEGER, out: INTEGER } },
            queued: { type: "integer", description: "bytes waiting to be written" },
            lastActivity: { type: "integer", description: "Unix ms" },
            aors: { type: "array", items: STRING },
          },
        },
        FailedCallback: {
          type: "object",
          properties: {
            id: INTEGER,
            method: { type: "string", enum: ["PUT", "DELETE", "POST"] },
            url: STRING,
            domain: STRING,
            user: STRING,
            body: { type: "string", description: "JSON body of a PUT" },
            attempts: INTEGER,
            error: STRING,
            failedAt: { type: "integer", description: "Unix ms of the last attempt" },
          },
        },
        Retried: {
          type: "object",
          properties: { retried: { type: "array", items: INTEGER } },
        },
        ...callSchemas(),
        SipwsResponse: {
          type: "object",
          properties: {
            q: STRING,
            errorcode: {
              type: "string",
              description: '"0" done, "1" key missing or wrong, "2" bad request, "3" store failure',
            },
            v: { type: "integer", description: "registry version before the update" },
            registry: { type: "array", items: ref("RegistryAddress") },
          },
        },
        RegistryAddress: {
          type: "object",
          properties: Object.fromEntries(
            [
              "avail",
              "proto",
              "origin",
              "key",
              "cn",
              "description",
              "id",
              "domain",
              "host",
              "line",
              "tag",
              "rinstance",
              "image",
            ].map((k) => [k, STRING]).concat(
              ["port", "expire", "registered", "updated"].map((k) => [k, INTEGER]),
            ),
          ),
        },
        DomainRequest: {
          type: "object",
          properties: {
            calls: {
              type: "boolean",
              description: "offer the domain's inbound calls to the control server first " +
                "(POST {control}/invite); needs control",
            },
            control: {
              oneOf: [
                { type: "string", format: "uri" },
                {
                  type: "object",
                  required: ["host", "port"],
                  properties: { host: STRING, port: INTEGER },
                },
              ],
            },
            secret: {
              type: ["string", "null"],
              description: "HMAC-SHA256 key of this domain's callbacks (wins over " +
                '[callbacks] secret); absent keeps the current one, "" or null clears it',
            },
            users: {
              type: "array",
              items: {
                allOf: [ref("UserRequest")],
                required: ["username", "secret"],
                properties: { username: STRING },
              },
            },
          },
        },
        UserRequest: {
          type: "object",
          properties: { secret: STRING, ...USER_PROFILE },
        },
        User: {
          type: "object",
          properties: { domain: STRING, username: STRING, ...USER_PROFILE },
        },
        Domain: {
          type: "object",
          properties: {
            domain: STRING,
            control: STRING,
            signed: { type: "boolean", description: "present (true) when a secret is set" },
            users: { type: "array", items: ref("User") },
          },
        },
        Registrations: {
          type: "object",
          required: ["domain", "count", "registered", "users"],
          properties: {
            domain: STRING,
            count: INTEGER,
            registered: INTEGER,
            users: {
              type: "object",
              additionalProperties: {
                type: "object",
                required: ["registered"],
                properties: {
                  registered: { type: "boolean" },
                  outstandingping: INTEGER,
                  remote: {
                    type: "object",
                    properties: {
                      host: STRING,
                      port: INTEGER,
                      agent: STRING,
                    },
                  },
                  epochs: {
                    type: "object",
                    properties: { registered: INTEGER },
                  },
                },
              },
            },
          },
        },
      },
    },
  };
}
