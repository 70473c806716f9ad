/**
 * @module The `DashboardSource` of `sipws tui --url URL --key K`: polls a running sipws's
 * HTTP control API with a Bearer key, the same contract curl and scripts use (`/metrics`,
 * `/healthz` with version and listening addresses, `/bindings`, `/dialog`, `/ws`: five
 * requests per poll), and maps the JSON to the snapshot shape; actions are
 * `POST /ws/{id}/close|ping` and `DELETE /bindings/{id}` (exactly the selected binding).
 * It only reads what the API publishes and never imports the server.
 */
import type { BanView, DialogView } from "../events.ts";
import type {
  ConnectionRow,
  DashboardSnapshot,
  DashboardSource,
  RegistrationRow,
} from "./source.ts";

/** One sample of a Prometheus text exposition. */
export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses the Prometheus text format (0.0.4); comment and malformed lines are skipped. */
export function parseMetrics(text: string): MetricSample[] {
  const out: MetricSample[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = SAMPLE.exec(line);
    if (!m) continue;
    const value = Number(m[4]);
    if (Number.isNaN(value)) continue;
    const labels: Record<string, string> = {};
    if (m[3]) {
      for (const l of m[3].matchAll(LABEL)) {
        labels[l[1]] = l[2].replace(/\\n/g, "\n").replace(/\\(.)/g, "$1");
      }
    }
    out.push({ name: m[1], labels, value });
  }
  return out;
}

/** Sum of every sample of `name`. */
export function metricTotal(samples: MetricSample[], name: string): number {
  let sum = 0;
  for (const s of samples) if (s.name === name) sum += s.value;
  return sum;
}

/** An API answer that was not 2xx, with the API's error message when it sent one. */
export class RemoteApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = "RemoteApiError";
    this.status = status;
  }
}

/** One entry of `GET /bindings`. */
interface RemoteBinding {
  id: string;
  aor: string;
  domain: string;
  user: string;
  contact: string;
  transport: string;
  remote: { host: string; port: number };
  userAgent?: string;
  expiresAt: number;
  outstandingPings: number;
  node?: string;
}

/** One entry of `/healthz`'s `listening` (sent to key holders). */
interface RemoteListener {
  transport: string;
  host: string;
  port: number;
}

interface RemoteConnection {
  id: string;
  transport: string;
  remote: { host: string; port: number };
  origin?: string;
  age: number;
  messages: { in: number; out: number };
  lastActivity: number;
  aors?: string[];
  queued?: number;
}

export interface RemoteSourceOptions {
  pollMs?: number;
  /** Per-request bound, ms. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

function hostPort(host: string, port: number | undefined): string {
  const h = host.includes(":") ? `[${host}]` : host;
  return port === undefined ? h : `${h}:${port}`;
}

export class RemoteSource implements DashboardSource {
  readonly origin: string;
  readonly pollMs: number;
  #key: string;
  #timeoutMs: number;
  #fetch: typeof fetch;

  constructor(url: string, key: string, options: RemoteSourceOptions = {}) {
    this.origin = url.replace(/\/+$/, "");
    this.#key = key;
    this.pollMs = options.pollMs ?? 1000;
    this.#timeoutMs = options.timeoutMs ?? 3000;
    this.#fetch = options.fetch ?? fetch;
  }

  async #call(method: string, path: string): Promise<Response> {
    const res = await this.#fetch(this.origin + path, {
      method,
      headers: { authorization: `Bearer ${this.#key}` },
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    if (!res.ok) {
      let message = `${method} ${path}: HTTP ${res.status}`;
      try {
        const body = await res.json();
        if (body?.error?.message) message = `${method} ${path}: ${body.error.message}`;
      } catch {
        // not JSON: keep the status line
      }
      throw new RemoteApiError(res.status, message);
    }
    return res;
  }

  // deno-lint-ignore no-explicit-any
  async #json(path: string): Promise<any> {
    return await (await this.#call("GET", path)).json();
  }

  async #registrations(): Promise<RegistrationRow[]> {
    const body = await this.#json("/bindings");
    return ((body.bindings ?? []) as RemoteBinding[]).map((b) => ({
      id: b.id,
      aor: b.aor,
      domain: b.domain,
      user: b.user,
      contact: b.contact,
      transport: b.transport,
      remote: hostPort(b.remote.host, b.remote.port),
      userAgent: b.userAgent || undefined,
      expiresAt: b.expiresAt,
      outstandingPings: b.outstandingPings ?? 0,
      node: b.node,
    })).sort((a, b) => a.aor.localeCompare(b.aor));
  }

  async snapshot(): Promise<DashboardSnapshot> {
    const takenAt = Date.now();
    const [metricsText, health, registrations, dialogBody, wsBody, banBody] = await Promise.all([
      this.#call("GET", "/metrics").then((r) => r.text()),
      this.#json("/healthz"),
      this.#registrations(),
      this.#json("/dialog"),
      this.#json("/ws"),
      // A server without abuse protection has no /bans: an empty list, not a failed poll.
      this.#json("/bans").catch(() => ({ bans: [] })),
    ]);
    const m = parseMetrics(metricsText);
    const uptime = typeof health.uptime === "number"
      ? health.uptime
      : metricTotal(m, "sipws_uptime_seconds");
    // An older server's /healthz has no addresses: fall back to the transport names.
    const listening = Array.isArray(health.listening)
      ? (health.listening as RemoteListener[]).map((l) => ({
        transport: l.transport,
        address: hostPort(l.host, l.port),
      }))
      : m.filter((s) => s.name === "sipws_connections" && s.labels.transport)
        .map((s) => ({ transport: s.labels.transport, address: "" }));
    const connections: ConnectionRow[] = ((wsBody.connections ?? []) as RemoteConnection[]).map(
      (c) => ({
        id: c.id,
        transport: c.transport,
        remote: hostPort(c.remote.host, c.remote.port),
        origin: c.origin,
        openedAt: takenAt - c.age * 1000,
        messagesIn: c.messages.in,
        messagesOut: c.messages.out,
        lastActivity: c.lastActivity,
        aors: c.aors ?? [],
        queued: c.queued ?? 0,
      }),
    );
    return {
      takenAt,
      version: typeof health.version === "string" ? health.version : undefined,
      startedAt: takenAt - uptime * 1000,
      listening,
      counters: {
        messagesIn: metricTotal(m, "sipws_sip_messages_in_total"),
        messagesOut: metricTotal(m, "sipws_sip_messages_out_total"),
        authFailures: metricTotal(m, "sipws_sip_auth_failures_total"),
        parseErrors: metricTotal(m, "sipws_sip_parse_errors_total"),
        rateLimited: metricTotal(m, "sipws_rate_limited_total"),
      },
      registrationCount: metricTotal(m, "sipws_registrations"),
      bans: (banBody.bans ?? []) as BanView[],
      registrations,
      dialogs: (dialogBody.dialogs ?? []) as DialogView[],
      connections,
      accepting: health.accepting !== false,
      webSocketsEnabled: wsBody.enabled !== false,
    };
  }

  async closeConnection(id: string): Promise<void> {
    await this.#call("POST", `/ws/${encodeURIComponent(id)}/close`).then((r) => r.body?.cancel());
  }

  async pingConnection(id: string): Promise<void> {
    await this.#call("POST", `/ws/${encodeURIComponent(id)}/ping`).then((r) => r.body?.cancel());
  }

  async setWebSocketsEnabled(enabled: boolean): Promise<void> {
    const path = enabled ? "/ws/enable" : "/ws/disable";
    await this.#call("POST", path).then((r) => r.body?.cancel());
  }

  async liftBan(address: string): Promise<void> {
    await this.#call("DELETE", `/bans/${encodeURIComponent(address)}`).then((r) =>
      r.body?.cancel()
    );
  }

  async removeRegistration(row: RegistrationRow): Promise<void> {
    await this.#call("DELETE", `/bindings/${encodeURIComponent(row.id)}`).then((r) =>
      r.body?.cancel()
    );
  }
}
