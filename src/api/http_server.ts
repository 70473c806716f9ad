/**
 * @module Serves the control API app on `Deno.serve` (`-r PORT`). It owns the listener's
 * lifetime only; routes live in app.ts, and control_api.ts starts it with what else a running
 * server needs.
 */
import { Logger } from "../log.ts";
import { type ApiOptions, type ApiServer, createApiApp } from "./app.ts";

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
