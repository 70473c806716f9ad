/**
 * @module WebSocket connection admin (Kamailio's ws.dump/close/ping/disable/enable):
 * `GET /ws` sorted (`?order=id|last_used&dir=asc|desc`) and paged (`?limit&offset`), each row
 * with bound AORs, messages and bytes each way and the send queue; `POST /ws/{id}/close
 * {code, reason}` (RFC 6455 §7.4.1, default 1000), `POST /ws/{id}/ping`, `POST /ws/disable`
 * (new handshakes get 503, open connections stay) and `POST /ws/enable`. It acts on the
 * transport only; the close is reported by the `ws.closed` event.
 */
import type { Context, Hono } from "hono";
import { type Connection, operatorPing } from "../transport/connection.ts";
import type { ApiServer } from "./app.ts";
import { ApiError, invalidField, objectBody, onlyKeys, optionalString } from "./errors.ts";

export interface ConnectionView {
  id: string;
  transport: string;
  remote: { host: string; port: number };
  local: { host: string; port: number };
  origin?: string;
  /** Seconds since the connection opened. */
  age: number;
  messages: { in: number; out: number };
  /** WebSocket payload bytes each way. */
  bytes?: { in: number; out: number };
  /** Bytes waiting to be written (WebSocket). */
  queued?: number;
  /** Epoch milliseconds of the last message either way. */
  lastActivity: number;
  aors: string[];
}

export function connectionView(server: ApiServer, c: Connection, now = Date.now()): ConnectionView {
  const view: ConnectionView = {
    id: c.flow.id,
    transport: c.flow.transport,
    remote: { ...c.flow.remote },
    local: { ...c.flow.local },
    age: Math.max(0, Math.floor((now - c.openedAt) / 1000)),
    messages: { in: c.messagesIn, out: c.messagesOut },
    lastActivity: c.lastActivity,
    aors: server.location.aorsOnFlow(c.flow.id),
  };
  if (c.origin !== undefined) view.origin = c.origin;
  if (c.bytesIn !== undefined) view.bytes = { in: c.bytesIn, out: c.bytesOut ?? 0 };
  if (c.queued) view.queued = c.queued();
  return view;
}

const isWebSocket = (c: Connection) => c.flow.transport === "ws" || c.flow.transport === "wss";

/** Connection ids end in this process's counter (`ws:n.0.run-12` → 12): opening order. */
function idNumber(id: string): number {
  return Number(/(\d+)$/.exec(id)?.[1] ?? 0);
}

function byId(a: Connection, b: Connection): number {
  return idNumber(a.flow.id) - idNumber(b.flow.id) || a.flow.id.localeCompare(b.flow.id);
}

function connectionOf(server: ApiServer, id: string): Connection {
  const connection = server.transport.connection(id);
  if (!connection) throw new ApiError(404, "not_found", `no such connection: ${id}`);
  return connection;
}

function intQuery(c: Context, name: string, fallback: number, max: number): number {
  const raw = c.req.query(name);
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > max) {
    throw invalidField(name, `must be an integer 0..${max}`);
  }
  return n;
}

function oneOf<T extends string>(c: Context, name: string, values: readonly T[], fallback: T): T {
  const raw = c.req.query(name);
  if (raw === undefined || raw === "") return fallback;
  if (!(values as readonly string[]).includes(raw)) {
    throw invalidField(name, `must be one of ${values.join(", ")}`);
  }
  return raw as T;
}

/** RFC 6455 §7.4: codes an endpoint may send (1005, 1006, 1015 are never on the wire). */
function closeCode(value: unknown): number {
  if (value === undefined || value === null) return 1000;
  const sendable = typeof value === "number" && Number.isInteger(value) &&
    ((value >= 1000 && value <= 1003) || (value >= 1007 && value <= 1014) ||
      (value >= 3000 && value <= 4999));
  if (!sendable) throw invalidField("code", "must be 1000-1003, 1007-1014 or 3000-4999");
  return value as number;
}

export function wsAdminRoutes(app: Hono, server: ApiServer): void {
  app.get("/ws", (c) => {
    // `?transport=all` also lists TCP and TLS connections.
    const all = c.req.query("transport") === "all";
    const order = oneOf(c, "order", ["id", "last_used"] as const, "id");
    const dir = oneOf(c, "dir", ["asc", "desc"] as const, "asc");
    const limit = intQuery(c, "limit", 1000, 100000);
    const offset = intQuery(c, "offset", 0, Number.MAX_SAFE_INTEGER);
    const sign = dir === "asc" ? 1 : -1;
    const now = Date.now();
    const rows = server.transport.connections()
      .filter((x) => all || isWebSocket(x))
      .sort((a, b) =>
        sign * (order === "id" ? byId(a, b) : a.lastActivity - b.lastActivity || byId(a, b))
      );
    const connections = rows.slice(offset, offset + limit).map((x) =>
      connectionView(server, x, now)
    );
    return c.json({
      count: rows.length,
      offset,
      limit,
      enabled: server.transport.webSocketsEnabled,
      connections,
    });
  });

  app.post("/ws/disable", (c) => {
    server.transport.setWebSocketsEnabled(false);
    return c.json({ enabled: false });
  });

  app.post("/ws/enable", (c) => {
    server.transport.setWebSocketsEnabled(true);
    return c.json({ enabled: true });
  });

  app.post("/ws/:id/close", async (c) => {
    const connection = connectionOf(server, c.req.param("id"));
    const text = await c.req.text();
    const body = text.trim() === "" ? {} : objectBody(text);
    onlyKeys(body, ["code", "reason"]);
    const code = closeCode(body.code);
    const reason = optionalString(body, "reason") ?? "closed by admin";
    if (new TextEncoder().encode(reason).length > 123) {
      throw invalidField("reason", "must be at most 123 bytes (RFC 6455 §5.5)");
    }
    connection.close(code, reason, "admin");
    return c.json({ id: connection.flow.id, closed: true, code, reason });
  });

  app.post("/ws/:id/ping", (c) => {
    const connection = connectionOf(server, c.req.param("id"));
    operatorPing(connection);
    return c.json({ id: connection.flow.id, pinged: true });
  });
}
