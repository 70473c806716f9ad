/**
 * @module `GET /metrics` in the Prometheus text exposition format (0.0.4): every counter
 * the layers keep (messages in/out by method and status, parse errors, drops,
 * connections, auth failures, callbacks, HTTP requests), prefixed `sipws_`, plus gauges
 * read at scrape time (registrations, accounts, dialogs, connections by transport,
 * transactions, accepting, certificate expiry, uptime). Formatting only; it changes nothing.
 */
import { daysLeft, EXPIRY_WARNING_DAYS } from "../transport/certificate.ts";
import type { ApiServer } from "./app.ts";

export interface MetricsExtras {
  callbacksPending: number;
}

/** Prometheus label values escape backslash, double quote and newline. */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function metricName(name: string): string {
  const clean = name.replace(/[^a-zA-Z0-9_:]/g, "_");
  return clean.startsWith("sipws_") ? clean : `sipws_${clean}`;
}

function labelText(labels: Record<string, string>): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return "";
  const parts = keys.map((k) => `${k.replace(/[^a-zA-Z0-9_]/g, "_")}="${escapeLabel(labels[k])}"`);
  return `{${parts.join(",")}}`;
}

interface Sample {
  labels: Record<string, string>;
  value: number;
}

export function metricsText(server: ApiServer, extras: MetricsExtras): string {
  const lines: string[] = [];
  const family = (name: string, type: "counter" | "gauge", help: string, samples: Sample[]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const s of samples) lines.push(`${name}${labelText(s.labels)} ${s.value}`);
  };

  const counters = new Map<string, Sample[]>();
  for (const c of server.counters.snapshot()) {
    const name = metricName(c.name);
    const list = counters.get(name) ?? [];
    list.push({ labels: c.labels, value: c.value });
    counters.set(name, list);
  }
  for (const name of [...counters.keys()].sort()) {
    family(
      name,
      "counter",
      `${name.replace(/^sipws_/, "").replace(/_/g, " ")}`,
      counters.get(name)!,
    );
  }

  const byTransport = new Map<string, number>();
  for (const l of server.transport.listening()) byTransport.set(l.transport, 0);
  for (const c of server.transport.connections()) {
    byTransport.set(c.flow.transport, (byTransport.get(c.flow.transport) ?? 0) + 1);
  }
  const ws = (byTransport.get("ws") ?? 0) + (byTransport.get("wss") ?? 0);
  const dialogs = server.dialogs?.list() ?? [];
  const tx = server.transactions.stats();
  const accounts = server.store.listAccounts().length;

  family("sipws_registrations", "gauge", "live contact bindings", [{
    labels: {},
    value: server.location.size,
  }]);
  family("sipws_accounts", "gauge", "provisioned accounts", [{ labels: {}, value: accounts }]);
  family("sipws_dialogs", "gauge", "dialogs not yet terminated", [{
    labels: {},
    value: dialogs.filter((d) => d.state !== "terminated").length,
  }]);
  family("sipws_api_calls", "gauge", "calls placed or held over HTTP, still open", [{
    labels: {},
    value: server.calls?.size ?? 0,
  }]);
  family("sipws_ws_connections", "gauge", "open WebSocket connections (ws and wss)", [{
    labels: {},
    value: ws,
  }]);
  family(
    "sipws_connections",
    "gauge",
    "open stream connections by transport",
    [...byTransport].filter(([t]) => t !== "udp").map(([transport, value]) => ({
      labels: { transport },
      value,
    })),
  );
  family("sipws_transactions", "gauge", "live SIP transactions", [
    { labels: { kind: "server" }, value: tx.server },
    { labels: { kind: "client" }, value: tx.client },
  ]);
  family("sipws_bans", "gauge", "source addresses banned now ([abuse])", [{
    labels: {},
    value: server.abuse.bans().length,
  }]);
  family("sipws_callbacks_pending", "gauge", "control-server callbacks queued or retrying", [{
    labels: {},
    value: extras.callbacksPending,
  }]);
  family("sipws_accepting", "gauge", "1 while SIP is accepted (SIPWS protocol start/stop)", [{
    labels: {},
    value: server.transport.accepting ? 1 : 0,
  }]);
  const cert = server.certificate();
  if (cert) {
    family(
      "sipws_certificate_not_after_seconds",
      "gauge",
      "Unix time the TLS/WSS certificate expires",
      [{ labels: {}, value: Math.floor(cert.notAfter / 1000) }],
    );
    family(
      "sipws_certificate_expiring",
      "gauge",
      `1 when the TLS/WSS certificate expires within ${EXPIRY_WARNING_DAYS} days`,
      [{ labels: {}, value: daysLeft(cert) < EXPIRY_WARNING_DAYS ? 1 : 0 }],
    );
  }

  const cluster = server.cluster;
  if (cluster) {
    const nodes = [...cluster.nodes.values()];
    family("sipws_cluster_redis_up", "gauge", "1 while the cluster's Redis answers", [{
      labels: {},
      value: cluster.redisUp ? 1 : 0,
    }]);
    family("sipws_cluster_nodes", "gauge", "cluster nodes by heartbeat state", [
      { labels: { state: "alive" }, value: nodes.filter((n) => n).length },
      { labels: { state: "lapsed" }, value: nodes.filter((n) => !n).length },
    ]);
    family("sipws_cluster_remote_registrations", "gauge", "bindings owned by other nodes", [{
      labels: {},
      value: cluster.all().length,
    }]);
  }
  family("sipws_uptime_seconds", "gauge", "seconds since the server started", [{
    labels: {},
    value: Math.floor((Date.now() - server.startedAt) / 1000),
  }]);
  return lines.join("\n") + "\n";
}
