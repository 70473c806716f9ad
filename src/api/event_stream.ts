/**
 * @module `GET /events`: the server's event bus as Server-Sent Events, for operators' tools
 * (`curl -N -H 'authorization: Bearer KEY'`): registrations, connections and WebSocket
 * closes, authentication failures and bans, dialogs and API call progress, each as
 * `event: <type>` and `data: <json>`. `?types=ws.closed,registration.added` picks types.
 * A client that reads too slowly is cut off (a bounded queue, never unbounded memory); a
 * comment line every 15 s keeps proxies from idling the stream out and finds dead clients.
 */
import type { Context, Hono } from "hono";
import type { SipwsEvent } from "../events.ts";
import type { ApiServer } from "./app.ts";
import { invalidField } from "./errors.ts";

/** Every event type (the Record makes the compiler name a new one here). */
const TYPES: Record<SipwsEvent["type"], true> = {
  "registration.added": true,
  "registration.refreshed": true,
  "registration.removed": true,
  "flow.opened": true,
  "flow.closed": true,
  "ws.closed": true,
  "auth.failed": true,
  "address.banned": true,
  "dialog.changed": true,
  "call.event": true,
  "server.started": true,
  "server.stopped": true,
};
export const EVENT_TYPES = Object.keys(TYPES) as SipwsEvent["type"][];

/** Events queued for one client before it is cut off as too slow. */
const MAX_QUEUED = 1000;
const KEEPALIVE_MS = 15_000;

const encoder = new TextEncoder();

function requestedTypes(c: Context): SipwsEvent["type"][] {
  const raw = c.req.query("types");
  if (raw === undefined || raw.trim() === "") return EVENT_TYPES;
  const types = raw.split(",").map((t) => t.trim());
  const unknown = types.find((t) => !(t in TYPES));
  if (unknown !== undefined) {
    throw invalidField("types", `unknown event type ${JSON.stringify(unknown)}`);
  }
  return types as SipwsEvent["type"][];
}

/** `closing` aborts when the HTTP listener shuts down: open streams end so it can. */
export function eventStreamRoutes(app: Hono, server: ApiServer, closing?: AbortSignal): void {
  app.get("/events", (c) => {
    const types = requestedTypes(c);
    let stop = () => {};
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        const send = (text: string) => {
          if ((controller.desiredSize ?? 0) <= 0) return end();
          controller.enqueue(encoder.encode(text));
        };
        const unsubscribe = types.map((type) =>
          server.events.on(type, (event) => {
            send(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
          })
        );
        const keepalive = setInterval(() => send(": keep-alive\n\n"), KEEPALIVE_MS);
        let ended = false;
        function end(): void {
          if (ended) return;
          ended = true;
          stop();
          // What is queued is still delivered; then the stream ends.
          controller.close();
        }
        stop = () => {
          for (const off of unsubscribe) off();
          clearInterval(keepalive);
          closing?.removeEventListener("abort", end);
        };
        closing?.addEventListener("abort", end);
        if (closing?.aborted) end();
        // Sent at once, so a client knows it is subscribed before the first event.
        else controller.enqueue(encoder.encode(": subscribed\n\n"));
      },
      cancel() {
        stop();
      },
    }, new CountQueuingStrategy({ highWaterMark: MAX_QUEUED }));
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream",
        "cache-control": "no-cache",
      },
    });
  });
}
