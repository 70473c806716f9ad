/**
 * @module Read-only operator views for the dashboard: `GET /dialog` (dialogs from the
 * tracker: proxied ones and the calls driven over HTTP, with state, legs, events and
 * setup/talk durations), `GET /ws` (WebSocket connections: id, remote, origin, age,
 * messages in/out, last activity, bound AORs), and the two connection actions
 * `POST /ws/{id}/close` and `POST /ws/{id}/ping`. It changes nothing else.
 */
import type { Hono } from "hono";
import type { DialogView } from "../events.ts";
import type { Connection } from "../transport/connection.ts";
import type { ApiServer } from "./app.ts";
import { ApiError } from "./errors.ts";

export interface ConnectionView {
  id: string;
  transport: string;
  remote: { host: string; port: number };
  local: { host: string; port: number };
  origin?: string;
  /** Seconds since the connection opened. */
  age: number;
  messages: { in: number; out: number };
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
  return view;
}

const isWebSocket = (c: Connection) => c.flow.transport === "ws" || c.flow.transport === "wss";

function connectionOf(server: ApiServer, id: string): Connection {
  const connection = server.transport.connection(id);
  if (!connection) throw new ApiError(404, "not_found", `no such connection: ${id}`);
  return connection;
}

/** Setup (start to answer or end) and talk (answer to end) times, ms, so far. */
function durations(d: DialogView, now: number): { setupMs: number; talkMs: number } {
  const end = d.endedAt ?? now;
  return {
    setupMs: (d.answeredAt ?? end) - d.startedAt,
    talkMs: d.answeredAt === undefined ? 0 : end - d.answeredAt,
  };
}

export function viewRoutes(app: Hono, server: ApiServer): void {
  app.get("/dialog", (c) => {
    const now = Date.now();
    const dialogs = (server.dialogs?.list() ?? []).map((d) => ({
      ...d,
      durations: durations(d, now),
    }));
    return c.json({ count: dialogs.length, dialogs });
  });

  app.get("/ws", (c) => {
    // `?transport=all` also lists TCP and TLS connections.
    const all = c.req.query("transport") === "all";
    const now = Date.now();
    const connections = server.transport.connections()
      .filter((x) => all || isWebSocket(x))
      .map((x) => connectionView(server, x, now));
    return c.json({ count: connections.length, connections });
  });

  app.post("/ws/:id/close", (c) => {
    const connection = connectionOf(server, c.req.param("id"));
    connection.close();
    return c.json({ id: connection.flow.id, closed: true });
  });

  app.post("/ws/:id/ping", (c) => {
    const connection = connectionOf(server, c.req.param("id"));
    connection.ping();
    return c.json({ id: connection.flow.id, pinged: true });
  });
}
