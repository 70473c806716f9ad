/**
 * @module Presentational ink components of the dashboard: the header, the pane tabs, a
 * generic table pane (titles, visible window of rows, selected row in inverse), the Log
 * pane, the help overlay and the status line. They draw strings the pure helpers made
 * (tables.ts, format.ts) at exactly the terminal width; they hold no state and do no I/O.
 */
import { Box, Text } from "ink";
import type { LogRecord } from "../log.ts";
import { type ColumnSpec, fit, formatRow, layoutColumns, scrollOffset } from "./format.ts";
import { HELP_LINES } from "./keys.ts";
import { formatLogLine } from "./log_tap.ts";
import { PANES } from "./tables.ts";

export function Header(
  { lines, width, error }: { lines: [string, string]; width: number; error?: string },
) {
  return (
    <Box flexDirection="column">
      <Text bold color="cyan">{fit(lines[0], width)}</Text>
      {error
        ? <Text color="red">{fit(`! ${error}`, width)}</Text>
        : <Text>{fit(lines[1], width)}</Text>}
    </Box>
  );
}

export function Tabs(
  { pane, width, right }: { pane: number; width: number; right: string },
) {
  const parts = PANES.map((p, i) => ` ${i + 1} ${p.title} `);
  const used = parts.reduce((n, p) => n + p.length, 0);
  const rest = Math.max(0, width - used);
  return (
    <Box>
      {parts.map((p, i) => (
        <Text key={p} inverse={i === pane} bold={i === pane}>
          {used > width ? fit(p, Math.max(0, Math.floor(width / parts.length))) : p}
        </Text>
      ))}
      {rest > 0 ? <Text color="gray">{fit(right, rest, "right")}</Text> : null}
    </Box>
  );
}

export function TablePane(
  { columns, rows, selected, offset, width, height }: {
    columns: ColumnSpec[];
    rows: string[][];
    selected: number;
    offset: number;
    width: number;
    height: number;
  },
) {
  const widths = layoutColumns(columns, width);
  const top = scrollOffset(selected, offset, height, rows.length);
  const visible = rows.slice(top, top + height);
  const lines = [];
  for (let i = 0; i < height; i++) {
    const row = visible[i];
    if (!row) {
      lines.push(<Text key={`empty${i}`}>{i === 0 && rows.length === 0 ? "  (none)" : " "}</Text>);
      continue;
    }
    const at = top + i;
    lines.push(
      <Text key={`r${at}`} inverse={at === selected}>{formatRow(row, widths, columns)}</Text>,
    );
  }
  return (
    <Box flexDirection="column">
      <Text bold underline>{fit(formatRow(columns.map((c) => c.title), widths), width)}</Text>
      {lines}
    </Box>
  );
}

const LEVEL_COLOR: Record<string, string | undefined> = {
  fatal: "red",
  error: "red",
  warn: "yellow",
  info: undefined,
  debug: "gray",
};

export function LogPane(
  { records, last, width, height, title }: {
    records: LogRecord[];
    /** Index of the last visible record. */
    last: number;
    width: number;
    height: number;
    title: string;
  },
) {
  const end = Math.min(records.length, last + 1);
  const start = Math.max(0, end - height);
  const visible = records.slice(start, end);
  const lines = [];
  for (let i = 0; i < height; i++) {
    const r = visible[i];
    if (!r) {
      lines.push(
        <Text key={`e${i}`}>{i === 0 && records.length === 0 ? "  (no log lines)" : " "}</Text>,
      );
      continue;
    }
    lines.push(
      <Text key={`l${start + i}`} color={LEVEL_COLOR[r.level]}>
        {fit(formatLogLine(r), width)}
      </Text>,
    );
  }
  return (
    <Box flexDirection="column">
      <Text bold underline>{fit(title, width)}</Text>
      {lines}
    </Box>
  );
}

export function HelpPane({ width, height }: { width: number; height: number }) {
  const lines = ["Keys", "", ...HELP_LINES];
  const out = [];
  for (let i = 0; i < height + 1; i++) {
    out.push(
      <Text key={`h${i}`} bold={i === 0}>{fit(lines[i] ?? "", width)}</Text>,
    );
  }
  return <Box flexDirection="column">{out}</Box>;
}

export function StatusLine(
  { text, width, tone }: { text: string; width: number; tone?: "error" | "info" | "input" },
) {
  const color = tone === "error" ? "red" : tone === "info" ? "green" : undefined;
  return <Text color={color} inverse={tone === "input"}>{fit(text, width)}</Text>;
}
