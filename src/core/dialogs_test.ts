import assert from "node:assert/strict";
import { EventBus } from "../events.ts";
import { parseMessage } from "../sip/parse.ts";
import type { SipRequest, SipResponse } from "../sip/message.ts";
import type { Flow } from "../transport/types.ts";
import { DialogTracker } from "./dialogs.ts";
import { testFlow } from "./fixtures_test.ts";

const enc = new TextEncoder();
const ws: Flow = testFlow("ws");
const udp: Flow = {
  ...ws,
  id: "udp:x",
  transport: "udp",
  remote: { host: "::1", port: 5070 },
  reliable: false,
};

function msg(startLine: string, callId: string, cseq: string): string {
  return `${startLine}\r\nVia: SIP/2.0/WS a.invalid;branch=z9hG4bK1\r\n` +
    "From: <sip:alice@example.test>;tag=a\r\nTo: <sip:bob@example.test>;tag=b\r\n" +
    `Call-ID: ${callId}\r\nCSeq: ${cseq}\r\nContent-Length: 0\r\n\r\n`;
}
const req = (m: string, callId: string) =>
  parseMessage(
    enc.encode(msg(`${m} sip:bob@example.test SIP/2.0`, callId, `1 ${m}`)),
  ) as SipRequest;
const res = (status: number, callId: string) =>
  parseMessage(enc.encode(msg(`SIP/2.0 ${status} X`, callId, "1 INVITE"))) as SipResponse;

Deno.test("dialog: early → confirmed → terminated with both legs, times and events", () => {
  let now = 1000;
  const events = new EventBus();
  const seen: string[] = [];
  events.on("dialog.changed", (e) => seen.push(`${e.callId}:${e.state}`));
  const tracker = new DialogTracker({ events, now: () => now, lingerMs: 5000 });
  tracker.invite(req("INVITE", "c1"), ws);
  assert.equal(tracker.get("c1")?.state, "early");
  assert.deepEqual(tracker.get("c1")?.caller, { transport: "ws", remote: "127.0.0.1:50000" });
  tracker.response(res(180, "c1"), udp);
  assert.deepEqual(tracker.get("c1")?.callee, { transport: "udp", remote: "[::1]:5070" });
  now = 2000;
  tracker.response(res(200, "c1"), udp);
  tracker.response(res(200, "c1"), udp); // a retransmission changes nothing
  assert.equal(tracker.get("c1")?.state, "confirmed");
  assert.equal(tracker.get("c1")?.answeredAt, 2000);
  assert.equal(tracker.active, 1);
  now = 3000;
  tracker.ended(req("BYE", "c1"));
  const d = tracker.get("c1")!;
  assert.equal(d.state, "terminated");
  assert.equal(d.startedAt, 1000);
  assert.equal(d.endedAt, 3000);
  assert.equal(d.from, "alice@example.test");
  assert.equal(d.to, "bob@example.test");
  assert.deepEqual(seen, ["c1:early", "c1:confirmed", "c1:terminated"]);
  assert.equal(tracker.active, 0);
  // Kept briefly, then dropped.
  now = 7999;
  assert.equal(tracker.list().length, 1);
  now = 8000;
  assert.equal(tracker.list().length, 0);
});

Deno.test("dialog: a failed or cancelled INVITE terminates without an answer; list() is a copy", () => {
  const tracker = new DialogTracker();
  tracker.invite(req("INVITE", "c2"), ws);
  tracker.failed("c2");
  assert.equal(tracker.get("c2")?.state, "terminated");
  assert.equal(tracker.get("c2")?.answeredAt, undefined);
  tracker.invite(req("INVITE", "c3"), ws);
  tracker.ended(req("CANCEL", "c3"));
  assert.equal(tracker.get("c3")?.state, "terminated");
  tracker.list()[0].caller.transport = "mutated";
  assert.equal(tracker.get("c2")?.caller.transport, "ws");
  // Unknown dialogs are ignored.
  tracker.ended(req("BYE", "nope"));
  tracker.response(res(200, "nope"), udp);
  assert.equal(tracker.list().length, 2);
});

Deno.test("dialog: bounded — the oldest terminated go first", () => {
  const tracker = new DialogTracker({ maxDialogs: 2 });
  tracker.invite(req("INVITE", "a"), ws);
  tracker.failed("a");
  tracker.invite(req("INVITE", "b"), ws);
  tracker.invite(req("INVITE", "c"), ws);
  assert.deepEqual(tracker.list().map((d) => d.callId), ["b", "c"]);
});

Deno.test("dialog: a full table of lingering dialogs sheds its oldest tenth at once", () => {
  const tracker = new DialogTracker({ maxDialogs: 20 });
  for (let i = 0; i < 20; i++) {
    tracker.invite(req("INVITE", `t${i}`), ws);
    tracker.failed(`t${i}`);
  }
  tracker.invite(req("INVITE", "new1"), ws);
  const ids = tracker.list().map((d) => d.callId);
  assert.equal(ids.length, 19);
  assert.deepEqual(ids.slice(0, 2), ["t2", "t3"], "t0 and t1 went together");
  tracker.invite(req("INVITE", "new2"), ws);
  assert.equal(tracker.list().length, 20, "the next call evicts nothing");
});

Deno.test("dialog: a call whose BYE never passed ends after the dialog lifetime", () => {
  let now = 0;
  const tracker = new DialogTracker({ now: () => now, lingerMs: 1000, lifetimeMs: 60_000 });
  tracker.invite(req("INVITE", "lost-bye"), ws);
  tracker.response(res(200, "lost-bye"), udp);
  now = 59_999;
  tracker.sweep();
  assert.equal(tracker.get("lost-bye")?.state, "confirmed");
  now = 60_000;
  tracker.sweep();
  assert.equal(tracker.get("lost-bye")?.state, "terminated");
  assert.equal(tracker.active, 0);
  now = 61_000;
  tracker.sweep();
  assert.equal(tracker.get("lost-bye"), undefined, "dropped after its linger");
});

Deno.test("dialog: lingers end in the order calls ended; a Call-ID used again is a new dialog", () => {
  let now = 0;
  const tracker = new DialogTracker({ now: () => now, lingerMs: 1000, lifetimeMs: 60_000 });
  tracker.invite(req("INVITE", "a"), udp);
  tracker.invite(req("INVITE", "b"), udp);
  now = 100;
  tracker.ended(req("BYE", "b"));
  now = 200;
  tracker.ended(req("BYE", "a"));
  // "b" is called again while its first call lingers: the new call is not dropped with it.
  now = 300;
  tracker.invite(req("INVITE", "b"), udp);
  now = 1100;
  tracker.sweep();
  assert.deepEqual(tracker.list().map((d) => [d.callId, d.state]), [["a", "terminated"], [
    "b",
    "early",
  ]]);
  now = 1200;
  tracker.sweep();
  assert.deepEqual(tracker.list().map((d) => d.callId), ["b"]);
  // A view reported ended (calls placed by sipws) lingers as long.
  tracker.put({
    callId: "api",
    from: "x",
    to: "y",
    state: "terminated",
    caller: { transport: "udp", remote: "127.0.0.1:5060" },
    startedAt: 1000,
    endedAt: 1200,
    kind: "originated",
  });
  now = 2199;
  tracker.sweep();
  assert.ok(tracker.current("api"));
  now = 2200;
  tracker.sweep();
  assert.equal(tracker.current("api"), undefined);
  // A live view reported with an older start still ends after the dialog lifetime.
  tracker.put({
    callId: "held",
    from: "x",
    to: "y",
    state: "confirmed",
    caller: { transport: "udp", remote: "127.0.0.1:5060" },
    startedAt: 100,
    kind: "held",
  });
  now = 60_100;
  tracker.sweep();
  assert.equal(tracker.current("held")?.state, "terminated");
  assert.equal(tracker.current("b")?.state, "early", "b started at 300");
  now = 60_300;
  tracker.sweep();
  assert.equal(tracker.current("b")?.state, "terminated");
});
