/**
 * @module The failed control-server callbacks on `/callbacks/failed`: `GET` lists those kept
 * after their last attempt (bounded, oldest first), `POST /callbacks/failed/{id}/retry`
 * sends one again and `POST /callbacks/failed/retry` sends all of them again (each through
 * its user's queue, freshly signed). It only reads and re-queues; callbacks.ts delivers.
 */
import type { Hono } from "hono";
import type { CallbackStats } from "./app.ts";
import { ApiError } from "./errors.ts";

export function failedCallbackRoutes(app: Hono, callbacks: CallbackStats | undefined): void {
  app.get("/callbacks/failed", (c) => c.json({ failed: callbacks?.failed() ?? [] }));

  app.post("/callbacks/failed/retry", (c) => {
    const ids = (callbacks?.failed() ?? []).map((f) => f.id);
    for (const id of ids) callbacks!.retry(id);
    return c.json({ retried: ids });
  });

  app.post("/callbacks/failed/:id/retry", (c) => {
    const id = Number(c.req.param("id"));
    if (!callbacks || !Number.isInteger(id) || !callbacks.retry(id)) {
      throw new ApiError(404, "not_found", `no failed callback ${c.req.param("id")}`);
    }
    return c.json({ retried: [id] });
  });
}
