/**
 * @module Idle WebSocket hold benchmark: sipws as a subprocess with a WS port;
 * N clients (Deno's WebSocket, which answers pings by itself, as browsers and the `ws`
 * library do) each register a user of their own with digest, then stay idle for the hold,
 * answering only what the server sends (OPTIONS, MESSAGE → 200). Counts the clients the
 * server closed during the hold (the target is 0), the bindings left at the end, and the
 * server's RSS per client. Bounded: `clients` and `holdSeconds` are parameters (5,000 for
 * 60 s by default on the shared box; `--clients=19000 --hold=300` is the issue's target).
 * Run `deno run -A bench/ws_idle_bench.ts [--clients=N] [--hold=S] [--ping-interval=S]`;
 * bench/run.ts imports `runWsIdleBench`.
 */
import { freePorts, waitHealthy } from "../tests/support/ports.ts";
import { spawnChild } from "../tests/support/process.ts";
import { md5RegisterAuthorization } from "../tests/support/sip_client.ts";
import { parseMessage } from "../src/sip/parse.ts";
import type { SipMessage, SipResponse } from "../src/sip/message.ts";
import { mb, statusKb } from "./support/proc.ts";
import { loadConfig, provisionUsers, seededStore, serveArgs } from "./support/sipws.ts";
import { arg } from "./support/args.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const KEY = "ws-idle-bench-key";
const DOMAIN = "idle.test";
/** Clients connecting and registering at once. */
const BATCH = 200;

export interface WsIdleOptions {
  clients?: number;
  holdSeconds?: number;
  /** Server `[websocket] ping_interval`, s; the timeout is the default 20 s. */
  pingIntervalSeconds?: number;
  log?: (line: string) => void;
}

export interface WsIdleResult {
  clients: number;
  registered: number;
  holdSeconds: number;
  pingIntervalSeconds: number;
  /** Clients the server closed during the hold, by close code. */
  serverCloses: number;
  closeCodes: Record<string, number>;
  /** Bindings the server lists at the end of the hold (GET /reg). */
  bindingsAtEnd: number;
  /** OPTIONS/MESSAGE the clients answered during the hold. */
  requestsAnswered: number;
  serverRssIdleMb: number;
  serverRssHeldMb: number;
  rssPerClientKb: number;
}

/** One idle client: registers user `u{i}`, then only answers requests with 200. */
class IdleClient {
  closedBy?: number;
  answered = 0;
  #ws: WebSocket;
  #waiting?: (m: SipResponse) => void;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (e) => this.#onMessage(String(e.data));
  }

  static open(port: number): Promise<IdleClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, "sip");
    return new Promise((resolve, reject) => {
      ws.onopen = () => {
        const client = new IdleClient(ws);
        ws.onclose = (e) => client.closedBy ??= e.code;
        resolve(client);
      };
      ws.onerror = () => reject(new Error("websocket failed"));
    });
  }

  #onMessage(text: string): void {
    let message: SipMessage;
    try {
      message = parseMessage(new TextEncoder().encode(text));
    } catch {
      return; // CRLF keep-alive
    }
    if (!message.isRequest) {
      this.#waiting?.(message as SipResponse);
      return;
    }
    if (message.method === "ACK") return;
    // 200 echoing the request's Via, From, To (tagged), Call-ID and CSeq.
    const copy = (name: string) => message.getAll(name).map((v) => `${name}: ${v}`);
    const to = message.get("to") ?? "";
    this.#ws.send(
      [
        "SIP/2.0 200 OK",
        ...copy("via"),
        ...copy("from"),
        `to: ${to.includes("tag=") ? to : `${to};tag=idle`}`,
        ...copy("call-id"),
        ...copy("cseq"),
        "Content-Length: 0",
        "",
        "",
      ].join("\r\n"),
    );
    this.answered++;
  }

  async register(i: number): Promise<boolean> {
    const callId = `idle-${i}-${crypto.randomUUID()}`;
    const send = (cseq: number, authorization?: string) => {
      const answer = new Promise<SipResponse>((resolve) => this.#waiting = resolve);
      this.#ws.send(
        [
          `REGISTER sip:${DOMAIN} SIP/2.0`,
          `Via: SIP/2.0/WS idle${i}.invalid;branch=z9hG4bK${crypto.randomUUID()}`,
          "Max-Forwards: 70",
          `From: <sip:u${i}@${DOMAIN}>;tag=f${i}`,
          `To: <sip:u${i}@${DOMAIN}>`,
          `Call-ID: ${callId}`,
          `CSeq: ${cseq} REGISTER`,
          `Contact: <sip:u${i}@idle${i}.invalid;transport=ws>`,
          "Expires: 3600",
          ...(authorization ? [`Authorization: ${authorization}`] : []),
          "Content-Length: 0",
          "",
          "",
        ].join("\r\n"),
      );
      return answer;
    };
    const challenge = await send(1);
    if (challenge.status !== 401) return false;
    const authorization = md5RegisterAuthorization(challenge.get("www-authenticate")!, {
      user: `u${i}`,
      password: `pw-${i}`,
      uri: `sip:${DOMAIN}`,
      cnonce: `c${i}`,
    });
    return (await send(2, authorization)).status === 200;
  }

  close(): void {
    this.#ws.onclose = null;
    this.#ws.close();
  }
}

export async function runWsIdleBench(options: WsIdleOptions = {}): Promise<WsIdleResult> {
  const n = options.clients ?? 5000;
  const holdSeconds = options.holdSeconds ?? 60;
  const pingInterval = options.pingIntervalSeconds ?? 10;
  const log = options.log ?? (() => {});
  const dir = await Deno.makeTempDir({ prefix: "sipws-wsidle-" });
  const [udp, ws, http] = freePorts(3);
  // Thousands of clients from 127.0.0.1 are load, not abuse: loadConfig trusts loopback.
  const config = loadConfig(dir, ROOT, `[websocket]\nping_interval = ${pingInterval}\n`);
  const child = spawnChild(Deno.execPath(), {
    args: serveArgs({
      store: await seededStore(dir, []),
      udp,
      ws,
      config,
      http: { port: http, key: KEY },
    }),
    cwd: ROOT,
  });
  const clients: IdleClient[] = [];
  try {
    const base = `http://127.0.0.1:${http}`;
    await waitHealthy(base, 60_000);
    await provisionUsers(base, KEY, DOMAIN, n);
    const serverRssIdleMb = mb(statusKb(child.pid, "VmRSS"));
    let registered = 0;
    for (let from = 0; from < n; from += BATCH) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(BATCH, n - from) }, () => IdleClient.open(ws)),
      );
      const ok = await Promise.all(batch.map((c, k) => c.register(from + k)));
      registered += ok.filter(Boolean).length;
      clients.push(...batch);
    }
    log(`ws idle: ${registered}/${n} registered; holding ${holdSeconds} s`);
    await new Promise((r) => setTimeout(r, holdSeconds * 1000));
    const closeCodes: Record<string, number> = {};
    for (const c of clients) {
      if (c.closedBy !== undefined) closeCodes[c.closedBy] = (closeCodes[c.closedBy] ?? 0) + 1;
    }
    const reg = await fetch(`${base}/reg`, { headers: { authorization: `Bearer ${KEY}` } });
    const { count } = await reg.json() as { count: number };
    const serverRssHeldMb = mb(statusKb(child.pid, "VmRSS"));
    return {
      clients: n,
      registered,
      holdSeconds,
      pingIntervalSeconds: pingInterval,
      serverCloses: Object.values(closeCodes).reduce((a, b) => a + b, 0),
      closeCodes,
      bindingsAtEnd: count,
      requestsAnswered: clients.reduce((sum, c) => sum + c.answered, 0),
      serverRssIdleMb,
      serverRssHeldMb,
      rssPerClientKb: Math.round(((serverRssHeldMb - serverRssIdleMb) * 1024 / n) * 10) / 10,
    };
  } finally {
    for (const c of clients) c.close();
    await child.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

export function formatWsIdleBench(r: WsIdleResult): string[] {
  return [
    `ws idle hold: ${r.registered}/${r.clients} clients registered, held ${r.holdSeconds} s ` +
    `(ping_interval ${r.pingIntervalSeconds} s): ${r.serverCloses} closed by the server ` +
    `${JSON.stringify(r.closeCodes)} (target 0), ${r.bindingsAtEnd} bindings at the end, ` +
    `${r.requestsAnswered} server requests answered; server RSS ${r.serverRssIdleMb} → ` +
    `${r.serverRssHeldMb} MB (${r.rssPerClientKb} kB/client)`,
  ];
}

if (import.meta.main) {
  const result = await runWsIdleBench({
    clients: arg("clients") === undefined ? undefined : Number(arg("clients")),
    holdSeconds: arg("hold") === undefined ? undefined : Number(arg("hold")),
    pingIntervalSeconds: arg("ping-interval") === undefined
      ? undefined
      : Number(arg("ping-interval")),
    log: (line) => console.error(line),
  });
  console.log(formatWsIdleBench(result).join("\n"));
  console.log(JSON.stringify(result));
}
