import assert from "node:assert/strict";
import { handleInput, handleKey, initialView, type KeyPress, type ViewState } from "./keys.ts";
import { metricTotal, parseMetrics } from "./remote_source.ts";

function press(state: ViewState, input: string, key: KeyPress = {}, count = 10, page = 5) {
  return handleKey(state, input, key, count, page);
}

Deno.test("keys: Tab, Shift-Tab and 1-5 switch panes", () => {
  let s = initialView();
  s = press(s, "", { tab: true }).state;
  assert.equal(s.pane, 1);
  s = press(s, "", { tab: true, shift: true }).state;
  assert.equal(s.pane, 0);
  s = press(s, "", { tab: true, shift: true }).state;
  assert.equal(s.pane, 4, "Shift-Tab from the first pane wraps to the last (Bans)");
  s = press(s, "3").state;
  assert.equal(s.pane, 2);
  assert.equal(press(s, "9").state.pane, 2);
});

Deno.test("keys: arrows, pages, home/end stay within the rows", () => {
  let s = initialView();
  s = press(s, "", { upArrow: true }).state;
  assert.equal(s.selected[0], 0);
  s = press(s, "", { downArrow: true }).state;
  assert.equal(s.selected[0], 1);
  s = press(s, "", { pageDown: true }).state;
  assert.equal(s.selected[0], 5);
  s = press(s, "", { pageDown: true }).state;
  assert.equal(s.selected[0], 9);
  s = press(s, "", { pageUp: true }).state;
  assert.equal(s.selected[0], 5);
  s = press(s, "", { home: true }).state;
  assert.equal(s.selected[0], 0);
  s = press(s, "", { end: true }).state;
  assert.equal(s.selected[0], 9);
  assert.equal(press(s, "", { downArrow: true }, 0).state.selected[0], 0);
});

Deno.test("keys: / edits a per-pane filter; Enter applies, Esc cancels, Esc clears", () => {
  let s = initialView();
  s = press(s, "/").state;
  assert.ok(s.editing);
  for (const ch of "alicx") s = press(s, ch).state;
  s = press(s, "", { backspace: true }).state;
  s = press(s, "e").state;
  // q and k are text while editing, not commands
  assert.equal(press(s, "q").action, undefined);
  s = press(s, "", { return: true }).state;
  assert.equal(s.editing, false);
  assert.equal(s.filters[0], "alice");
  assert.equal(s.filters[1], "");
  s = press(s, "/").state;
  assert.equal(s.draft, "alice");
  s = press(s, "", { escape: true }).state;
  assert.equal(s.filters[0], "alice");
  s = press(s, "", { escape: true }).state;
  assert.equal(s.filters[0], "");
});

Deno.test("keys: actions only in their pane and only with a row", () => {
  const s = initialView();
  assert.equal(press(s, "q").action, "quit");
  assert.equal(press(s, "k").action, "remove");
  assert.equal(press(s, "k", {}, 0).action, undefined);
  assert.equal(press(s, "c").action, undefined);
  const ws = { ...s, pane: 2 };
  assert.equal(press(ws, "c").action, "close");
  assert.equal(press(ws, "p").action, "ping");
  assert.equal(press(ws, "k").action, undefined);
  assert.equal(press(ws, "c", {}, 0).action, undefined);
  assert.equal(press(ws, "d", {}, 0).action, "toggle-ws", "disable/enable needs no row");
  assert.equal(press(s, "d").action, undefined);
  const bans = { ...s, pane: 4 };
  assert.equal(press(bans, "u").action, "lift");
  assert.equal(press(bans, "u", {}, 0).action, undefined);
  assert.equal(press(s, "u").action, undefined);
});

Deno.test("keys: ? opens help, any key closes it, q still quits", () => {
  let s = press(initialView(), "?").state;
  assert.ok(s.help);
  assert.equal(press(s, "q").action, "quit");
  assert.equal(press(s, "k").action, undefined);
  s = press(s, "x").state;
  assert.equal(s.help, false);
});

Deno.test("keys: Log pane level cycle and follow mode", () => {
  let s = { ...initialView(), pane: 3 };
  assert.equal(s.logMin, "debug");
  s = press(s, "l").state;
  assert.equal(s.logMin, "info");
  s = { ...s, selected: [0, 0, 0, 9] };
  s = press(s, "", { upArrow: true }).state;
  assert.equal(s.follow, false);
  s = press(s, "", { end: true }).state;
  assert.equal(s.follow, true);
  s = press(s, "", { upArrow: true }).state;
  s = press(s, "f").state;
  assert.equal(s.follow, true);
});

Deno.test("parseMetrics: samples, labels, escapes; comments skipped; totals", () => {
  const text = [
    "# HELP sipws_sip_messages_in_total x",
    "# TYPE sipws_sip_messages_in_total counter",
    'sipws_sip_messages_in_total{method="REGISTER",transport="udp"} 10',
    'sipws_sip_messages_in_total{method="INVITE",transport="ws"} 5',
    'sipws_odd{v="a\\"b\\\\c"} 1',
    "sipws_registrations 3",
    "garbage line",
    "sipws_nan NaNx",
  ].join("\n");
  const m = parseMetrics(text);
  assert.equal(metricTotal(m, "sipws_sip_messages_in_total"), 15);
  assert.equal(metricTotal(m, "sipws_registrations"), 3);
  assert.equal(metricTotal(m, "missing"), 0);
  assert.deepEqual(m[0].labels, { method: "REGISTER", transport: "udp" });
  assert.equal(m.find((s) => s.name === "sipws_odd")?.labels.v, 'a"b\\c');
  assert.equal(m.length, 4);
});

Deno.test("keys: a multi-character chunk is applied character by character", () => {
  let r = handleInput(initialView(), "/bob", {}, 10, 5);
  assert.ok(r.state.editing);
  assert.equal(r.state.draft, "bob");
  r = handleInput(initialView(), "/alx\x7fice\r", {}, 10, 5);
  assert.equal(r.state.editing, false);
  assert.equal(r.state.filters[0], "alice");
  r = handleInput(initialView(), "3c", {}, 10, 5);
  assert.equal(r.state.pane, 2);
  assert.equal(r.action, "close");
  assert.equal(handleInput(initialView(), "?", {}, 10, 5).state.help, true);
});
