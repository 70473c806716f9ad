/**
 * @module The dashboard's key bindings as a pure reducer: (view state, key, row count,
 * page size) → next view state and at most one action for the caller to carry out (quit,
 * close or ping the selected connection, remove the selected registration). Pane
 * switching, scrolling, the `/` row filter, the Log pane's level filter and follow mode,
 * and the help overlay all live here, so every binding is unit-tested without a terminal.
 */
import type { LogLevel } from "../log.ts";
import { nextLevel } from "./log_tap.ts";
import { PANES } from "./tables.ts";
import { clampIndex } from "./format.ts";

/** The subset of ink's `Key` the bindings read. */
export interface KeyPress {
  upArrow?: boolean;
  downArrow?: boolean;
  pageUp?: boolean;
  pageDown?: boolean;
  home?: boolean;
  end?: boolean;
  return?: boolean;
  escape?: boolean;
  tab?: boolean;
  shift?: boolean;
  ctrl?: boolean;
  backspace?: boolean;
  delete?: boolean;
}

export interface ViewState {
  /** Index into PANES. */
  pane: number;
  /** Selected row per pane (for the Log pane: the last visible line). */
  selected: number[];
  /** Applied row filter per pane. */
  filters: string[];
  /** Typing a filter after `/`. */
  editing: boolean;
  draft: string;
  help: boolean;
  /** Log pane: least severe level shown. */
  logMin: LogLevel;
  /** Log pane: stick to the newest line. */
  follow: boolean;
}

export type KeyAction = "quit" | "close" | "ping" | "remove" | "toggle-ws" | "lift";

export function initialView(): ViewState {
  return {
    pane: 0,
    selected: PANES.map(() => 0),
    filters: PANES.map(() => ""),
    editing: false,
    draft: "",
    help: false,
    logMin: "debug",
    follow: true,
  };
}

const LOG = PANES.findIndex((p) => p.name === "log");

function withSelected(state: ViewState, index: number, count: number): ViewState {
  const selected = [...state.selected];
  selected[state.pane] = clampIndex(index, count);
  const next = { ...state, selected };
  if (state.pane === LOG) next.follow = count === 0 || selected[state.pane] >= count - 1;
  return next;
}

/**
 * Applies one key press. `count` is the number of (filtered) rows of the current pane and
 * `page` the number of visible rows.
 */
export function handleKey(
  state: ViewState,
  input: string,
  key: KeyPress,
  count: number,
  page: number,
): { state: ViewState; action?: KeyAction } {
  if (state.editing) {
    if (key.return) {
      const filters = [...state.filters];
      filters[state.pane] = state.draft.trim();
      const selected = [...state.selected];
      selected[state.pane] = 0;
      return { state: { ...state, editing: false, filters, selected } };
    }
    if (key.escape) return { state: { ...state, editing: false, draft: "" } };
    if (key.backspace || key.delete) {
      return { state: { ...state, draft: [...state.draft].slice(0, -1).join("") } };
    }
    if (key.ctrl || key.tab || key.upArrow || key.downArrow) return { state };
    if (input && [...input].every((ch) => ch >= " " && ch !== "\x7f")) {
      return { state: { ...state, draft: state.draft + input } };
    }
    return { state };
  }

  if (state.help) {
    // Any key leaves the help overlay; q still quits.
    if (input === "q") return { state, action: "quit" };
    return { state: { ...state, help: false } };
  }

  const current = state.selected[state.pane] ?? 0;
  const step = Math.max(1, page - 1);
  if (input === "q") return { state, action: "quit" };
  if (input === "?") return { state: { ...state, help: true } };
  if (key.tab) {
    const n = PANES.length;
    return { state: { ...state, pane: (state.pane + (key.shift ? n - 1 : 1)) % n } };
  }
  if (/^[1-9]$/.test(input) && Number(input) <= PANES.length) {
    return { state: { ...state, pane: Number(input) - 1 } };
  }
  if (key.upArrow) return { state: withSelected(state, current - 1, count) };
  if (key.downArrow) return { state: withSelected(state, current + 1, count) };
  if (key.pageUp) return { state: withSelected(state, current - step, count) };
  if (key.pageDown || input === " ") return { state: withSelected(state, current + step, count) };
  if (key.home || input === "g") return { state: withSelected(state, 0, count) };
  if (key.end || input === "G") return { state: withSelected(state, count - 1, count) };
  if (input === "/") {
    return { state: { ...state, editing: true, draft: state.filters[state.pane] } };
  }
  if (key.escape) {
    const filters = [...state.filters];
    filters[state.pane] = "";
    return { state: { ...state, filters } };
  }
  const pane = PANES[state.pane].name;
  if (pane === "log" && input === "l") {
    return { state: { ...state, logMin: nextLevel(state.logMin) } };
  }
  if (pane === "log" && input === "f") return { state: { ...state, follow: true } };
  if (pane === "connections" && input === "c" && count > 0) return { state, action: "close" };
  if (pane === "connections" && input === "p" && count > 0) return { state, action: "ping" };
  if (pane === "connections" && input === "d") return { state, action: "toggle-ws" };
  if (pane === "registrations" && input === "k" && count > 0) return { state, action: "remove" };
  if (pane === "bans" && input === "u" && count > 0) return { state, action: "lift" };
  return { state };
}

/** Control characters that may arrive inside a chunk, as the keys they stand for. */
const CHUNK_KEYS: Record<string, KeyPress> = {
  "\r": { return: true },
  "\n": { return: true },
  "\t": { tab: true },
  "\x7f": { backspace: true },
  "\b": { backspace: true },
};

/**
 * Like `handleKey`, but a chunk of several characters (fast typing, a paste) is applied
 * one character at a time; the first action wins and stops the rest.
 */
export function handleInput(
  state: ViewState,
  input: string,
  key: KeyPress,
  count: number,
  page: number,
): { state: ViewState; action?: KeyAction } {
  const chars = [...input];
  if (chars.length <= 1) return handleKey(state, input, key, count, page);
  let next = state;
  for (const ch of chars) {
    const r = handleKey(next, ch, CHUNK_KEYS[ch] ?? {}, count, page);
    next = r.state;
    if (r.action) return r;
  }
  return { state: next };
}

/** The help overlay's lines. */
export const HELP_LINES = [
  "Tab / Shift-Tab   next / previous pane     1-5   Registrations, Dialogs, WebSocket, Log, Bans",
  "↑ ↓              move the selection       PgUp PgDn Space   one page",
  "Home End  g G     first / last row         /     filter rows (Enter apply, Esc cancel)",
  "Esc               clear this pane's filter ?     this help (any key closes it)",
  "k                 Registrations: remove the selected binding",
  "c  p              WebSocket: close / ping the selected connection",
  "d                 WebSocket: disable / enable new handshakes (503 while disabled)",
  "l                 Log: cycle the level filter (debug, info, warn, error)",
  "u                 Bans: lift the selected ban",
  "f                 Log: follow the newest line",
  "q  Ctrl-C         quit (with --tui: stop the server)",
];
