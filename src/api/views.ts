/**
 * @module Read-only operator views for the dashboard: `GET /dialog` (dialogs from the
 * tracker: proxied ones and the calls driven over HTTP, with state, legs, events and
 * setup/talk durations). WebSocket connections are in ws_admin.ts. It changes nothing.
 */
import type { Hono } from "hono";
import type { DialogView } from "../events.ts";
import type { ApiServer } from "./app.ts";

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
}
