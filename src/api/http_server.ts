/**
 * @module Serves the control API app on `Deno.serve` (`-r PORT`) and, with it, the
 * control-server callbacks and call events: `startHttpApi` for the listener alone, `startControlApi` for
 * what a running server needs (callbacks always, the HTTP listener when `httpPort` is set).
 * It owns the listener's lifetime only; routes live in app.ts.
 */
import { Logger } from "../log.ts";
import { type ApiOptions, type ApiServer, createApiApp } from "./app.ts";
import { type CallbackOptions, startCallbacks } from "./callbacks.ts";
import { CallEvents } from "./call_events.ts";

export interface HttpApi {
  /** The bound port (useful with port 0). */
  readonly port: number;
  readonly hostname: string;
  close(): Promise<void>;
}

const log = new Logger("api");

/** "" and wildcard interfaces bind every address. */
function bindHost(hostname: string): string {
  return hostname === "" ? "0.0.0.0" : hostname;
}

/** Starts the HTTP control API; throws (naming the port) when it cannot bind. */
export function startHttpApi(
  server: ApiServer,
  port: number,
  hostname: string,
  options: ApiOptions = {},
): HttpApi {
  // Long-lived responses (`GET /events`) end when this aborts, so shutdown does not wait.
  const closing = new AbortController();
  const app = createApiApp(server, { ...options, closing: closing.signal });
  const host = bindHost(hostname);
  let httpServer: Deno.HttpServer<Deno.NetAddr>;
  try {
    httpServer = Deno.serve({ port, hostname: host, onListen: () => {} }, app.fetch);
  } catch (error) {
    throw new Error(`cannot listen for http on ${host}:${port}: ${String(error)}`);
  }
  const bound = httpServer.addr.port;
  log.info(`HTTP control API on ${host}:${bound}`);
  let closed: Promise<void> | undefined;
  return {
    port: bound,
    hostname: host,
    close() {
      closing.abort();
      closed ??= httpServer.shutdown().catch(() => {});
      return closed;
    },
  };
}

export interface ControlApi {
  /** The HTTP listener, when `config.httpPort` is set. */
  readonly http?: HttpApi;
  close(): Promise<void>;
}

/** Starts control callbacks and, when `config.httpPort` is set, the HTTP API. */
export function startControlApi(
  server: ApiServer,
  options: CallbackOptions & { version?: string } = {},
): ControlApi {
  const callbacks = startCallbacks(server, options);
  const callEvents = new CallEvents(server, options);
  let http: HttpApi | undefined;
  try {
    if (server.config.httpPort !== undefined) {
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
