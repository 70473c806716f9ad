/**
 * @module The dashboard's panes as plain tables: column specs and one row of cells per
 * registration, dialog, WebSocket connection or ban of a snapshot, plus the header lines with
 * rates. Pure (snapshot and `now` in, strings out) so layout and wording are unit-tested
 * without a terminal; the React components only draw what these return.
 */
import type { BanView, DialogView } from "../events.ts";
import {
  type ColumnSpec,
  formatAge,
  formatCountdown,
  formatDuration,
  formatRate,
  formatUptime,
  ratePerSecond,
  shortUri,
} from "./format.ts";
import type { ConnectionRow, DashboardSnapshot, RegistrationRow } from "./source.ts";

export type PaneName = "registrations" | "dialogs" | "connections" | "log" | "bans";

export const PANES: { name: PaneName; title: string }[] = [
  { name: "registrations", title: "Registrations" },
  { name: "dialogs", title: "Dialogs" },
  { name: "connections", title: "WebSocket" },
  { name: "log", title: "Log" },
  { name: "bans", title: "Bans" },
];

/** A table row: cells in column order and the object it stands for. */
export interface TableRow<T> {
  key: string;
  cells: string[];
  item: T;
}

export interface Table<T> {
  columns: ColumnSpec[];
  rows: TableRow<T>[];
}

export const REGISTRATION_COLUMNS: ColumnSpec[] = [
  { title: "AOR", min: 14, grow: 2 },
  { title: "CONTACT", min: 14, grow: 3 },
  { title: "TRANSP", min: 6 },
  { title: "REMOTE", min: 15, grow: 1 },
  { title: "EXPIRES", min: 7, align: "right" },
  { title: "PING", min: 4, align: "right" },
  { title: "USER AGENT", min: 10, grow: 2 },
];

const NODE_COLUMN: ColumnSpec = { title: "NODE", min: 6 };

export function registrationTable(
  rows: RegistrationRow[],
  now: number,
): Table<RegistrationRow> {
  const sorted = [...rows].sort((a, b) => a.aor.localeCompare(b.aor) || a.id.localeCompare(b.id));
  // A cluster's rows name their node: one more column, only then.
  const clustered = rows.some((r) => r.node !== undefined);
  return {
    columns: clustered ? [...REGISTRATION_COLUMNS, NODE_COLUMN] : REGISTRATION_COLUMNS,
    rows: sorted.map((r) => ({
      key: r.id,
      item: r,
      cells: [
        r.aor,
        r.contact === undefined ? "-" : shortUri(r.contact),
        r.transport,
        r.remote,
        formatCountdown(r.expiresAt, now),
        String(r.outstandingPings),
        r.userAgent ?? "",
        ...(clustered ? [r.node ?? ""] : []),
      ],
    })),
  };
}

export const DIALOG_COLUMNS: ColumnSpec[] = [
  { title: "CALL-ID", min: 12, grow: 2 },
  { title: "FROM → TO", min: 20, grow: 3 },
  { title: "STATE", min: 10 },
  { title: "DURATION", min: 8, align: "right" },
  { title: "LEGS", min: 9, grow: 1 },
];

/** How long a dialog has lasted: from answer (or start while early) to end (or now). */
export function dialogDuration(d: DialogView, now: number): number {
  const from = d.answeredAt ?? d.startedAt;
  return (d.endedAt ?? now) - from;
}

/** Calls driven over HTTP show their last event too (e.g. "early ringing 180"). */
function stateCell(d: DialogView): string {
  const last = d.events?.at(-1);
  if (!last) return d.state;
  return `${d.state} ${last.event}${last.code === undefined ? "" : ` ${last.code}`}`;
}

/** Caller → callee transports; sipws is the callee of a held call, forks list each. */
function legsCell(d: DialogView): string {
  if (d.kind === "held") return `${d.caller.transport}→sipws`;
  const legs = d.legs?.length ? [...new Set(d.legs.map((l) => l.transport))].join(",") : undefined;
  return `${d.caller.transport}→${legs ?? d.callee?.transport ?? "?"}`;
}

export function dialogTable(dialogs: DialogView[], now: number): Table<DialogView> {
  const sorted = [...dialogs].sort((a, b) => a.startedAt - b.startedAt);
  // A cluster's call through two nodes is a row per node: the node tells them apart.
  const clustered = dialogs.some((d) => d.node !== undefined);
  return {
    columns: clustered ? [...DIALOG_COLUMNS, NODE_COLUMN] : DIALOG_COLUMNS,
    rows: sorted.map((d) => ({
      key: clustered ? `${d.node ?? ""} ${d.callId}` : d.callId,
      item: d,
      cells: [
        d.callId,
        `${shortUri(d.from)} → ${shortUri(d.to)}`,
        stateCell(d),
        formatDuration(dialogDuration(d, now)),
        legsCell(d),
        ...(clustered ? [d.node ?? ""] : []),
      ],
    })),
  };
}

export const CONNECTION_COLUMNS: ColumnSpec[] = [
  { title: "ID", min: 22 },
  { title: "REMOTE", min: 15, grow: 1 },
  { title: "ORIGIN", min: 10, grow: 2 },
  { title: "AGE", min: 6, align: "right" },
  { title: "IN/OUT", min: 9, align: "right" },
  { title: "LAST", min: 6, align: "right" },
  { title: "QUEUE", min: 5, align: "right" },
  { title: "AORS", min: 10 },
];

export function connectionTable(rows: ConnectionRow[], now: number): Table<ConnectionRow> {
  const sorted = [...rows].sort((a, b) => a.openedAt - b.openedAt || a.id.localeCompare(b.id));
  return {
    columns: CONNECTION_COLUMNS,
    rows: sorted.map((c) => ({
      key: c.id,
      item: c,
      cells: [
        c.id,
        c.remote,
        c.origin ?? "-",
        formatDuration(now - c.openedAt),
        `${c.messagesIn}/${c.messagesOut}`,
        formatAge(c.lastActivity, now),
        String(c.queued),
        c.aors.join(" ") || "-",
      ],
    })),
  };
}

export const BAN_COLUMNS: ColumnSpec[] = [
  { title: "ADDRESS", min: 15, grow: 1 },
  { title: "REASON", min: 16 },
  { title: "FAILS", min: 5, align: "right" },
  { title: "REPEAT", min: 6, align: "right" },
  { title: "ENDS IN", min: 8, align: "right" },
  { title: "ACCOUNTS", min: 10, grow: 2 },
];

/** Bans in force, soonest to end first (the order the guard lists them in). */
export function banTable(rows: BanView[], now: number): Table<BanView> {
  return {
    columns: BAN_COLUMNS,
    rows: rows.map((b) => ({
      key: b.address,
      item: b,
      cells: [
        b.address,
        b.reason,
        String(b.failures),
        String(b.repeat),
        formatCountdown(b.until, now),
        b.accounts.join(" ") || "-",
      ],
    })),
  };
}

/** Rates derived from two successive snapshots. */
export interface Rates {
  messagesIn: number;
  messagesOut: number;
}

export function ratesBetween(
  previous: DashboardSnapshot | undefined,
  current: DashboardSnapshot,
): Rates {
  const point = (s: DashboardSnapshot | undefined, key: "messagesIn" | "messagesOut") =>
    s ? { total: s.counters[key], at: s.takenAt } : undefined;
  return {
    messagesIn: ratePerSecond(point(previous, "messagesIn"), point(current, "messagesIn")!),
    messagesOut: ratePerSecond(point(previous, "messagesOut"), point(current, "messagesOut")!),
  };
}

/** The two header lines: identity and listeners; counters and rates. */
export function headerLines(
  s: DashboardSnapshot,
  rates: Rates,
  origin: string,
  now: number,
): [string, string] {
  const version = s.version ? `sipws ${s.version}` : "sipws";
  const where = origin === "local" ? "" : ` @ ${origin}`;
  const listeners = s.listening
    .map((l) => (l.address ? `${l.transport} ${l.address}` : l.transport))
    .join("  ");
  const paused = s.accepting ? "" : "  [SIP stopped]";
  const first = `${version}${where}  up ${formatUptime(now - s.startedAt)}${paused}  ${listeners}`;
  const openDialogs = s.dialogs.filter((d) => d.state !== "terminated").length;
  const second =
    `in ${formatRate(rates.messagesIn)}/s  out ${
      formatRate(rates.messagesOut)
    }/s  regs ${s.registrationCount}  dialogs ${openDialogs}  ws ${s.connections.length}${
      s.webSocketsEnabled ? "" : " (new: 503)"
    }  ` +
    `auth fail ${s.counters.authFailures}  parse err ${s.counters.parseErrors}  ` +
    `bans ${s.bans.length}  rate-limited ${s.counters.rateLimited}`;
  return [first, second];
}
