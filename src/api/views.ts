/**
 * @module Read-only operator views for the dashboard: `GET /dialog` (dialogs from the
 * tracker: proxied ones and the calls driven over HTTP, with state, legs, events and
 * setup/talk durations; in a cluster the other nodes' too, with their node). WebSocket connections are in ws_admin.ts. It changes nothing.
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
    // In a cluster every node's dialogs, each row with its node (a call through two
    // nodes is a row on each: each node's own view of it).
    const cluster = server.cluster;
    const local = (server.dialogs?.list() ?? []).map((d) =>
      cluster ? { ...d, node: cluster.id } : d
    );
    const dialogs = [...local, ...(cluster?.otherDialogs() ?? [])].map((d) => ({
      ...d,
      durations: durations(d, now),
    }));
    return c.json({ count: dialogs.length, dialogs });
  });
}
