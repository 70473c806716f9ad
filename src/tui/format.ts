/**
 * @module Pure text helpers of the dashboard: durations, countdowns, rates, column layout
 * for a given terminal width, cell fitting (truncate with an ellipsis, pad), row filters
 * and the scroll window that keeps the selected row visible. No React, no I/O, no clock:
 * every function takes `now` or the values it needs, so each is unit-tested.
 */

/** `42s`, `3m07s`, `2h05m`, `3d04h`: compact, at most two units. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${String(m % 60).padStart(2, "0")}m`;
  const d = Math.floor(h / 24);
  return `${d}d${String(h % 24).padStart(2, "0")}h`;
}

/** Uptime as `HH:MM:SS`, with a day prefix past 24 h (`2d 03:04:05`). */
export function formatUptime(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400);
  const hh = String(Math.floor((s % 86400) / 3600)).padStart(2, "0");
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return `${d > 0 ? `${d}d ` : ""}${hh}:${mm}:${ss}`;
}

/** Time left until `expiresAt` (`1m05s`), `expired` once past, `?` when unknown. */
export function formatCountdown(expiresAt: number | undefined, now: number): string {
  if (expiresAt === undefined) return "?";
  const left = expiresAt - now;
  return left <= 0 ? "expired" : formatDuration(left);
}

/** Time since `at` (`12s ago` style without the suffix), `-` when never. */
export function formatAge(at: number | undefined, now: number): string {
  if (at === undefined || at <= 0) return "-";
  return formatDuration(now - at);
}

/** A per-second rate: `0`, `7.5`, `42`, `1.2k`, `3.4M`. */
export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond) || perSecond <= 0) return "0";
  if (perSecond < 10) return (Math.round(perSecond * 10) / 10).toString();
  if (perSecond < 1000) return Math.round(perSecond).toString();
  if (perSecond < 1e6) return `${(perSecond / 1000).toFixed(1)}k`;
  return `${(perSecond / 1e6).toFixed(1)}M`;
}

/** A point of a monotonic counter. */
export interface CounterPoint {
  total: number;
  /** Epoch ms. */
  at: number;
}

/** Per-second rate between two points; 0 when time did not advance or the counter reset. */
export function ratePerSecond(previous: CounterPoint | undefined, current: CounterPoint): number {
  if (!previous) return 0;
  const dt = current.at - previous.at;
  const dv = current.total - previous.total;
  if (dt <= 0 || dv < 0) return 0;
  return (dv * 1000) / dt;
}

/** Display width of a string (code points; the dashboard's text is ASCII or simple). */
export function textWidth(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** `text` cut to `width` (ending in `…` when cut) and padded with spaces to `width`. */
export function fit(text: string, width: number, align: "left" | "right" = "left"): string {
  if (width <= 0) return "";
  const clean = text.replace(/[\r\n\t]/g, " ");
  const chars = [...clean];
  let out: string;
  if (chars.length > width) out = width === 1 ? "…" : chars.slice(0, width - 1).join("") + "…";
  else out = clean;
  const pad = " ".repeat(width - textWidth(out));
  return align === "right" ? pad + out : out + pad;
}

export interface ColumnSpec {
  title: string;
  /** Narrowest useful width. */
  min: number;
  /** Share of the spare width (0 = stays at `min`). */
  grow?: number;
  align?: "left" | "right";
}

/**
 * Widths for `columns` in `width` characters with one space between columns. Every
 * column gets its minimum while it fits; the spare is shared by `grow`; columns that no
 * longer fit get width 0 (hidden), last first.
 */
export function layoutColumns(columns: ColumnSpec[], width: number): number[] {
  const widths = columns.map(() => 0);
  let used = 0;
  let shown = 0;
  for (let i = 0; i < columns.length; i++) {
    const need = columns[i].min + (shown > 0 ? 1 : 0);
    if (used + need > width) break;
    widths[i] = columns[i].min;
    used += need;
    shown++;
  }
  let spare = width - used;
  const growers = columns.map((c, i) => (widths[i] > 0 ? c.grow ?? 0 : 0));
  const weight = growers.reduce((a, b) => a + b, 0);
  if (spare > 0 && weight > 0) {
    let given = 0;
    const lastGrower = growers.findLastIndex((g) => g > 0);
    for (let i = 0; i < columns.length; i++) {
      if (growers[i] === 0) continue;
      const extra = i === lastGrower ? spare - given : Math.floor((spare * growers[i]) / weight);
      widths[i] += extra;
      given += extra;
    }
    spare -= given;
  }
  return widths;
}

/** One table line: each cell fitted to its width, hidden columns left out. */
export function formatRow(cells: string[], widths: number[], columns?: ColumnSpec[]): string {
  const parts: string[] = [];
  for (let i = 0; i < widths.length; i++) {
    if (widths[i] <= 0) continue;
    parts.push(fit(cells[i] ?? "", widths[i], columns?.[i]?.align));
  }
  return parts.join(" ");
}

/** Case-insensitive substring match over the cells; an empty filter matches all. */
export function matchesFilter(cells: readonly string[], filter: string): boolean {
  const f = filter.trim().toLowerCase();
  if (f === "") return true;
  return cells.some((c) => c.toLowerCase().includes(f));
}

/** Selection kept inside `[0, count)` (0 when empty). */
export function clampIndex(index: number, count: number): number {
  if (count <= 0) return 0;
  return Math.min(Math.max(0, index), count - 1);
}

/**
 * First visible row so that `selected` stays within a window of `height` rows, moving the
 * window as little as possible from `offset`.
 */
export function scrollOffset(
  selected: number,
  offset: number,
  height: number,
  count: number,
): number {
  if (height <= 0 || count <= height) return 0;
  let top = Math.min(Math.max(0, offset), count - height);
  if (selected < top) top = selected;
  if (selected >= top + height) top = selected - height + 1;
  return Math.min(Math.max(0, top), count - height);
}

/** Where `uri` points without the `sip:`/`sips:` scheme and angle brackets. */
export function shortUri(uri: string): string {
  return uri.replace(/^<|>$/g, "").replace(/^sips?:/i, "");
}
