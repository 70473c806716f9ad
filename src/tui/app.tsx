/**
 * @module The dashboard component: polls its `DashboardSource` on the source's own period
 * (never more than one request in flight), keeps the previous snapshot for rates, reads
 * the log tap on the same tick, maps keys through the pure reducer (keys.ts) and carries
 * out the actions it returns. Everything it draws fits the live terminal size. It must
 * not subscribe to per-message events: the SIP path never waits on a render.
 */
import { Box, useApp, useInput, useStdin, useWindowSize } from "ink";
import { useCallback, useEffect, useRef, useState } from "react";
import { Logger } from "../log.ts";
import { clampIndex, matchesFilter } from "./format.ts";
import { handleInput, initialView, type ViewState } from "./keys.ts";
import { atLeast, formatLogLine, type LogTap } from "./log_tap.ts";
import { Header, HelpPane, LogPane, StatusLine, TablePane, Tabs } from "./panes.tsx";
import type { DashboardSnapshot, DashboardSource, RegistrationRow } from "./source.ts";
import {
  banTable,
  connectionTable,
  dialogTable,
  headerLines,
  PANES,
  ratesBetween,
  registrationTable,
  type Table,
} from "./tables.ts";

const log = new Logger("tui");

/** Lines around the pane body: 2 header, 1 tabs, 1 column titles, 1 status. */
const CHROME_LINES = 5;
const STATUS_TTL_MS = 6000;

const HINTS: Record<string, string> = {
  registrations: "Tab/1-5 pane  ↑↓ PgUp/PgDn  / filter  k remove  ? help  q quit",
  dialogs: "Tab/1-5 pane  ↑↓ PgUp/PgDn  / filter  ? help  q quit",
  connections:
    "Tab/1-5 pane  ↑↓ PgUp/PgDn  / filter  c close  p ping  d disable/enable  ? help  q quit",
  log: "Tab/1-5 pane  ↑↓ PgUp/PgDn  / filter  l level  f follow  ? help  q quit",
  bans: "Tab/1-5 pane  ↑↓ PgUp/PgDn  / filter  u lift the ban  ? help  q quit",
};

export interface DashboardProps {
  source: DashboardSource;
  tap: LogTap;
}

interface Snapshots {
  current?: DashboardSnapshot;
  previous?: DashboardSnapshot;
  /** The last poll's failure, cleared by the next success. */
  error?: string;
  /** `tap.written` at the last poll (a change redraws the Log pane). */
  logSeen: number;
}

function currentTable(
  pane: string,
  s: DashboardSnapshot | undefined,
  now: number,
): Table<unknown> | undefined {
  if (!s) return undefined;
  if (pane === "registrations") return registrationTable(s.registrations, now);
  if (pane === "dialogs") return dialogTable(s.dialogs, now);
  if (pane === "connections") return connectionTable(s.connections, now);
  if (pane === "bans") return banTable(s.bans, now);
  return undefined;
}

export function Dashboard({ source, tap }: DashboardProps) {
  const { exit } = useApp();
  const { isRawModeSupported } = useStdin();
  const { columns, rows } = useWindowSize();
  // One state object per poll: one render per tick (ink's legacy root does not batch).
  const [snaps, setSnaps] = useState<Snapshots>({ logSeen: 0 });
  const error = snaps.error;
  const [view, setView] = useState<ViewState>(initialView);
  const [status, setStatus] = useState<{ text: string; error: boolean; at: number }>();
  const offsets = useRef<number[]>(PANES.map(() => 0));
  const inFlight = useRef(false);

  const poll = useCallback(async () => {
    if (inFlight.current) return;
    inFlight.current = true;
    try {
      const next = await source.snapshot();
      setSnaps((s) => ({ previous: s.current, current: next, logSeen: tap.written }));
    } catch (e) {
      const error = `${source.origin}: ${e instanceof Error ? e.message : String(e)}`;
      setSnaps((s) => ({ ...s, error, logSeen: tap.written }));
    } finally {
      inFlight.current = false;
    }
  }, [source, tap]);

  useEffect(() => {
    void poll();
    const timer = setInterval(() => void poll(), source.pollMs);
    return () => clearInterval(timer);
  }, [poll, source]);

  const width = Math.max(20, columns);
  const height = Math.max(1, rows - CHROME_LINES);
  const now = Date.now();
  const pane = PANES[view.pane].name;
  const filter = view.filters[view.pane];

  // Rows of the current pane after the filter: table rows or log records.
  const table = currentTable(pane, snaps.current, now);
  const tableRows = table ? table.rows.filter((r) => matchesFilter(r.cells, filter)) : [];
  const records = pane === "log"
    ? tap.records().filter((r) =>
      atLeast(r.level, view.logMin) && matchesFilter([formatLogLine(r)], filter)
    )
    : [];
  const count = pane === "log" ? records.length : tableRows.length;
  const selected = pane === "log" && view.follow
    ? Math.max(0, count - 1)
    : clampIndex(view.selected[view.pane], count);

  const say = (text: string, isError = false) => {
    setStatus({ text, error: isError, at: Date.now() });
    if (isError) log.warn(text);
    else log.info(text);
  };
  const act = (what: string, run: () => Promise<void>) => {
    run().then(() => say(what), (e) => say(`${what} failed: ${e?.message ?? e}`, true))
      .finally(() => void poll());
  };

  const wsEnabled = snaps.current?.webSocketsEnabled !== false;
  const latest = useRef({ view, count, selected, height, tableRows, wsEnabled });
  latest.current = { view, count, selected, height, tableRows, wsEnabled };
  useInput((input, key) => {
    const cur = latest.current;
    // The reducer sees the selection as drawn (follow mode, clamping).
    const base = { ...cur.view, selected: [...cur.view.selected] };
    base.selected[base.pane] = cur.selected;
    const { state, action } = handleInput(base, input, key, cur.count, cur.height);
    setView(state);
    if (!action) return;
    if (action === "quit") {
      exit();
      return;
    }
    if (action === "toggle-ws") {
      const enable = !cur.wsEnabled;
      act(
        enable ? "new WebSocket handshakes enabled" : "new WebSocket handshakes disabled (503)",
        () => source.setWebSocketsEnabled(enable),
      );
      return;
    }
    const row = cur.tableRows[cur.selected]?.item;
    if (!row) return;
    if (action === "close") {
      const id = (row as { id: string }).id;
      act(`closed ${id}`, () => source.closeConnection(id));
    } else if (action === "ping") {
      const id = (row as { id: string }).id;
      act(`pinged ${id}`, () => source.pingConnection(id));
    } else if (action === "lift") {
      const address = (row as { address: string }).address;
      act(`ban on ${address} lifted`, () => source.liftBan(address));
    } else if (action === "remove") {
      const r = row as RegistrationRow;
      act(`removed ${r.aor} (${r.remote})`, () => source.removeRegistration(r));
    }
  }, { isActive: isRawModeSupported === true });

  const s = snaps.current;
  const lines: [string, string] = s
    ? headerLines(s, ratesBetween(snaps.previous, s), source.origin, now)
    : [`sipws @ ${source.origin}`, "waiting for the first snapshot…"];
  const shown = pane === "log" ? `${count} lines` : `${count}/${table?.rows.length ?? 0}`;
  const right = `${filter ? `filter "${filter}"  ` : ""}${shown} `;

  let statusText = HINTS[pane];
  let tone: "error" | "info" | "input" | undefined;
  if (view.editing) {
    statusText = `/${view.draft}_   (Enter apply, Esc cancel)`;
    tone = "input";
  } else if (status && now - status.at < STATUS_TTL_MS) {
    statusText = status.text;
    tone = status.error ? "error" : "info";
  }

  let body;
  if (view.help) body = <HelpPane width={width} height={height} />;
  else if (pane === "log") {
    const title = `level ≥ ${view.logMin}${view.follow ? "  (following)" : ""}` +
      (source.origin === "local" ? "" : "  (this dashboard's own log; server logs stay on it)");
    body = (
      <LogPane records={records} last={selected} width={width} height={height} title={title} />
    );
  } else {
    const offset = offsets.current[view.pane];
    body = (
      <TablePane
        columns={table?.columns ?? []}
        rows={tableRows.map((r) => r.cells)}
        selected={selected}
        offset={offset}
        width={width}
        height={height}
      />
    );
    offsets.current[view.pane] = Math.max(0, Math.min(offset, selected));
    if (selected >= offsets.current[view.pane] + height) {
      offsets.current[view.pane] = selected - height + 1;
    }
  }

  return (
    <Box flexDirection="column" width={width} height={rows}>
      <Header lines={lines} width={width} error={error} />
      <Tabs pane={view.pane} width={width} right={right} />
      {body}
      <StatusLine text={statusText} width={width} tone={tone} />
    </Box>
  );
}
