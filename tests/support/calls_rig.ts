/**
 * @module What call-control tests start: sipws with its HTTP API open to one key, and a
 * control server that records the call events sipws posts; `api` calls that HTTP API.
 */
import type { Config } from "../../src/config/config.ts";
import { ControlServer } from "./control_server.ts";
import { startTestServer, type TestServer, type TestServerOptions } from "./test_server.ts";

export interface CallsRigOptions extends TestServerOptions {
  /** The API key. */
  key: string;
}

export interface CallsRig extends AsyncDisposable {
  ts: TestServer;
  control: ControlServer;
  /** Calls the HTTP API; an object body is sent as JSON, a string as it is. */
  api: (method: string, path: string, body?: unknown, key?: string) => Promise<Response>;
}

/** Starts both; `configure` runs after the rig's own settings (API key, no pings). */
export async function startCallsRig(o: CallsRigOptions): Promise<CallsRig> {
  const control = new ControlServer();
  const ts = await startTestServer({
    ...o,
    apiKey: o.key,
    configure: (c: Config) => {
      c.ping.interval = 0;
      o.configure?.(c);
    },
  }).catch(async (e) => {
    await control.close();
    throw e;
  });
  const api = (method: string, path: string, body?: unknown, key = o.key) =>
    fetch(`http://127.0.0.1:${ts.config.httpPort}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
  return {
    ts,
    control,
    api,
    async [Symbol.asyncDispose]() {
      try {
        await control.close();
      } finally {
        await ts.stop();
      }
    },
  };
}
