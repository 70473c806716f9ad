/**
 * @module The in-process `DashboardSource` for `sipws --foreground --tui`: each snapshot
 * copies what it needs from the running `Server` (location bindings, transport
 * connections, counters, the proxy's dialog list when there is one) in one synchronous
 * pass, so the SIP path is never waited on and never sees the dashboard. Actions call the
 * same operations as the HTTP API (close/ping a connection, remove a binding as "admin"),
 * and like the API's they settle once every SIP worker has applied them (`Server.settle`).
 */
import { bindingId } from "../core/location.ts";
import type { DialogView } from "../events.ts";
import type { Server } from "../server.ts";
import { operatorPing } from "../transport/connection.ts";
import type {
  ConnectionRow,
  DashboardSnapshot,
  DashboardSource,
  RegistrationRow,
} from "./source.ts";

/** The proxy's dialog tracker, present once the proxy provides it. */
export type DashboardServer = Server & { readonly dialogs?: { list(): DialogView[] } };

const isWebSocket = (transport: string) => transport === "ws" || transport === "wss";

function hostPort(a: { host: string; port: number }): string {
  return a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

export class LocalSource implements DashboardSource {
  readonly origin = "local";
  readonly pollMs: number;
  #server: DashboardServer;
  #version?: string;

  constructor(server: DashboardServer, options: { version?: string; pollMs?: number } = {}) {
    this.#server = server;
    this.#version = options.version;
    this.pollMs = options.pollMs ?? 1000;
  }

  snapshot(): Promise<DashboardSnapshot> {
    const s = this.#server;
    // The whole cluster's bindings when clustered, each with its node.
    const node = s.cluster?.id;
    const registrations: RegistrationRow[] = s.registrations.all().map((b) => ({
      id: bindingId(b),
      aor: b.aor,
      domain: b.domain,
      user: b.user,
      contact: b.contact,
      transport: b.flow.transport,
      remote: hostPort(b.flow.remote),
      userAgent: b.userAgent,
      expiresAt: b.expiresAt,
      outstandingPings: b.outstandingPings,
      node: node && (b.flow.owner?.node ?? node),
    }));
    const connections: ConnectionRow[] = s.transport.connections()
      .filter((c) => isWebSocket(c.flow.transport))
      .map((c) => ({
        id: c.flow.id,
        transport: c.flow.transport,
        remote: hostPort(c.flow.remote),
        origin: c.origin,
        openedAt: c.openedAt,
        messagesIn: c.messagesIn,
        messagesOut: c.messagesOut,
        lastActivity: c.lastActivity,
        aors: s.location.aorsOnFlow(c.flow.id),
        queued: c.queued?.() ?? 0,
      }));
    const snapshot: DashboardSnapshot = {
      takenAt: Date.now(),
      version: this.#version,
      startedAt: s.startedAt,
      listening: s.transport.listening().map((l) => ({
        transport: l.transport,
        address: hostPort(l.local),
      })),
      counters: {
        messagesIn: s.counters.total("sip_messages_in_total"),
        messagesOut: s.counters.total("sip_messages_out_total"),
        authFailures: s.counters.total("sip_auth_failures_total"),
        parseErrors: s.counters.total("sip_parse_errors_total"),
        rateLimited: s.counters.total("rate_limited_total"),
      },
      registrationCount: s.location.size,
      bans: s.abuse.bans(),
      registrations,
      // In a cluster every node's dialogs, each with its node (as GET /dialog).
      dialogs: node
        ? [
          ...(s.dialogs?.list() ?? []).map((d) => ({ ...d, node })),
          ...(s.cluster?.otherDialogs() ?? []),
        ]
        : s.dialogs?.list() ?? [],
      connections,
      accepting: s.transport.accepting,
      webSocketsEnabled: s.transport.webSocketsEnabled,
    };
    return Promise.resolve(snapshot);
  }

  closeConnection(id: string): Promise<void> {
    const connection = this.#server.transport.connection(id);
    if (!connection) return Promise.reject(new Error(`no such connection: ${id}`));
    connection.close(1000, "closed by admin", "admin");
    return this.#server.settle();
  }

  pingConnection(id: string): Promise<void> {
    const connection = this.#server.transport.connection(id);
    if (!connection) return Promise.reject(new Error(`no such connection: ${id}`));
    operatorPing(connection);
    return this.#server.settle();
  }

  setWebSocketsEnabled(enabled: boolean): Promise<void> {
    this.#server.transport.setWebSocketsEnabled(enabled);
    return this.#server.settle();
  }

  liftBan(address: string): Promise<void> {
    if (!this.#server.abuse.unban(address)) {
      return Promise.reject(new Error(`${address} is no longer banned`));
    }
    return this.#server.settle();
  }

  removeRegistration(row: RegistrationRow): Promise<void> {
    // In a cluster a row of another node is removed by that node, asked through Redis.
    const location = this.#server.registrations;
    const binding = location.byId(row.id);
    if (!binding || !location.remove(binding, "admin")) {
      return Promise.reject(new Error(`${row.aor} is no longer registered there`));
    }
    return this.#server.settle();
  }
}
