/**
 * @module What a running server attaches of this layer: the control-server callbacks and call
 * events always, the HTTP control API (http_server.ts) when `httpPort` is set. The HTTP side
 * (Hono, every route, the OpenAPI text) is loaded only then: a server without `-r` never
 * holds its code (docs/performance.md, idle memory).
 */
import type { ApiServer } from "./app.ts";
import { type CallbackOptions, startCallbacks } from "./callbacks.ts";
import { CallEvents } from "./call_events.ts";
import type { HttpApi } from "./http_server.ts";

export interface ControlApi {
  /** The HTTP listener, when `config.httpPort` is set. */
  readonly http?: HttpApi;
  close(): Promise<void>;
}

/** Starts control callbacks and, when `config.httpPort` is set, the HTTP API. */
export async function startControlApi(
  server: ApiServer,
  options: CallbackOptions & { version?: string } = {},
): Promise<ControlApi> {
  const callbacks = startCallbacks(server, options);
  const callEvents = new CallEvents(server, options);
  let http: HttpApi | undefined;
  try {
    if (server.config.httpPort !== undefined) {
      const { startHttpApi } = await import("./http_server.ts");
      http = startHttpApi(server, server.config.httpPort, server.config.interface, {
        callbacks,
        version: options.version,
      });
    }
  } catch (error) {
    callbacks.close();
    callEvents.close();
    throw error;
  }
  return {
    http,
    async close() {
      await http?.close();
      callbacks.close();
      callEvents.close();
    },
  };
}
