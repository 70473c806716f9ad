/**
 * @module Starts a real sipws server in-process for integration tests: free loopback
 * ports for every requested transport, a temporary sqlite store seeded with accounts, a
 * self-signed certificate for TLS/WSS, and shrunken timers. Cleans everything up on stop.
 */
import { type Config, defaultConfig } from "../../src/config/config.ts";
import { type Server, startServer } from "../../src/server.ts";
import type { Counters } from "../../src/events.ts";
import { startControlApi } from "../../src/api/control_api.ts";
import { makeSelfSignedCert } from "./certs.ts";
import { freePorts } from "./ports.ts";

export interface TestServerOptions {
  transports?: ("udp" | "tcp" | "tls" | "ws" | "wss")[];
  accounts?: { user: string; domain: string; password: string }[];
  /** Opens the HTTP API on a free port (`config.httpPort`), with this one key. */
  apiKey?: string;
  /**
   * SIP workers, when the test pins a count; the product's default otherwise (one per core).
   * `SIPWS_TEST_WORKERS=N` runs every test server with N workers, pinned or not.
   */
  workers?: number;
  /** Runs last: may change anything, the API settings too. */
  configure?: (config: Config) => void;
}

export interface TestServer extends AsyncDisposable {
  server: Server;
  config: Config;
  dir: string;
  port(transport: "udp" | "tcp" | "tls" | "ws" | "wss"): number;
  /** Stops gracefully: calls being set up get `graceMs` (default 500) to finish. */
  stop(graceMs?: number): Promise<void>;
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const transports = options.transports ?? ["udp", "tcp", "tls", "ws", "wss"];
  const dir = await Deno.makeTempDir({ prefix: "sipws-test-" });
  const config = defaultConfig();
  config.interface = "127.0.0.1";
  config.foreground = true;
  config.storePath = `${dir}/sipws.db`;
  config.sip.t1 = 50;
  config.sip.t2 = 400;
  config.sip.t4 = 500;
  // A parallel suite on a loaded CI box can stall a server's turn for 200 ms (the product's
  // lag bound): the rig's servers shed streams only past 2 s, so a functional test is not
  // answered 503 because a neighbour started Chromium (stream_overload_test sets its own).
  config.sip.overloadLagMs = 2000;
  // The RSS is the whole test process's (every file's servers, Chromium's relays): off here,
  // memory_overload_test sets its own budget.
  config.sip.overloadMemoryMb = 0;
  const ports = freePorts(transports.length + 1);
  if (options.apiKey !== undefined) {
    config.httpPort = ports[transports.length];
    config.keys = [options.apiKey];
  }
  transports.forEach((t, i) => {
    if (t === "udp") config.udpPort = ports[i];
    if (t === "tcp") config.tcpPort = ports[i];
    if (t === "tls") config.tlsPort = ports[i];
    if (t === "ws") config.wsPort = ports[i];
    if (t === "wss") config.wssPort = ports[i];
  });
  if (transports.includes("tls") || transports.includes("wss")) {
    const cert = await makeSelfSignedCert(dir);
    config.certificate = cert.certFile;
    config.privateKey = cert.keyFile;
  }
  const forced = Deno.env.get("SIPWS_TEST_WORKERS");
  config.workers = forced ? Number(forced) : options.workers ?? config.workers;
  options.configure?.(config);
  const server = await startServer(config, [startControlApi]);
  for (const a of options.accounts ?? []) await server.store.putAccount(a);
  const stop = async (graceMs = 500) => {
    await server.stop(graceMs);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  return {
    server,
    config,
    dir,
    port(t) {
      const p = {
        udp: config.udpPort,
        tcp: config.tcpPort,
        tls: config.tlsPort,
        ws: config.wsPort,
        wss: config.wssPort,
      }[t];
      if (p === undefined) throw new Error(`${t} not enabled`);
      return p;
    },
    stop,
    [Symbol.asyncDispose]: () => stop(),
  };
}

/**
 * The RFC 3261 timers (T1 500 ms) instead of the rig's shrunken ones (T1 50 ms), for tests
 * whose peers are browsers: Timer B and F (64·T1) would give a JsSIP page 3.2 s to answer a
 * proxied request, a re-INVITE's 200 waiting on WebRTC negotiation included, which a loaded
 * machine's Chromium can exceed. Loopback loses nothing, so the longer retransmit timers
 * cost no time.
 */
export function rfcTimers(config: Config): void {
  const { t1, t2, t4 } = defaultConfig().sip;
  Object.assign(config.sip, { t1, t2, t4 });
}

/**
 * The server's counters with every worker's counts in (`Server.sync`, as the API reads
 * them): what a test observed happening is counted.
 */
export async function countersOf(t: TestServer): Promise<Counters> {
  await t.server.sync();
  return t.server.counters;
}

/** Calls `t`'s HTTP API with `key`: the status, and the JSON body (undefined when empty). */
export async function apiJson(
  t: TestServer,
  key: string,
  method: string,
  path: string,
  // deno-lint-ignore no-explicit-any
): Promise<{ status: number; json: any }> {
  const r = await fetch(`http://127.0.0.1:${t.config.httpPort}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}` },
  });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : undefined };
}
