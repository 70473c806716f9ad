import assert from "node:assert/strict";
import { LocationService } from "../core/location.ts";
import { DialogTracker } from "../core/dialogs.ts";
import { Counters, EventBus } from "../events.ts";
import { MessageCounter } from "../transport/message_labels.ts";
import { parseMessage } from "../sip/parse.ts";
import { WorkerPort } from "./port.ts";
import type { CounterDelta, FromWorker } from "./protocol.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A worker's port posting into a list, attached to fresh counters. */
function attached() {
  const posted: FromWorker[] = [];
  const port = new WorkerPort(1, 2, (m) => posted.push(m));
  const events = new EventBus();
  const counters = new Counters();
  counters.inc("sip_started_total");
  port.attach(new LocationService(events), new DialogTracker(), counters, events);
  const reports = () =>
    posted.flatMap((m) => m.t === "counters" ? [m.deltas] : []) as CounterDelta[][];
  return { port, counters, reports, posted };
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !ok(); i++) await sleep(10);
  assert.ok(ok(), what);
}

Deno.test("worker port: counters reach main after a change, only the changed ones, and no report while nothing changes", async () => {
  const { port, counters, reports } = attached();
  try {
    // What was counted before attaching goes out in the first report.
    await until("the first report", () => reports().length === 1);
    assert.deepEqual(reports()[0], [{ name: "sip_started_total", labels: {}, by: 1 }]);
    await sleep(150);
    assert.equal(reports().length, 1, "no report while nothing changed");

    counters.inc("sip_x_total", { a: "1" }, 2);
    await until("a report after inc", () => reports().length === 2);
    assert.deepEqual(reports()[1], [{ name: "sip_x_total", labels: { a: "1" }, by: 2 }]);

    // A live entry added to (the per-message counters) wakes the report too.
    const messages = new MessageCounter(counters, "sip_messages_in_total");
    const options = parseMessage(
      new TextEncoder().encode(
        "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1\r\n" +
          "From: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>\r\nCall-ID: c1\r\n" +
          "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
      ),
    );
    messages.count("udp", options);
    await until("a report after a message", () => reports().length === 3);
    assert.deepEqual(reports()[2], [{
      name: "sip_messages_in_total",
      labels: { transport: "udp", method: "OPTIONS" },
      by: 1,
    }]);
    await sleep(150);
    assert.equal(reports().length, 3, "no report while nothing changed");
  } finally {
    port.close();
  }
});

Deno.test("worker port: sync reports at once, before synced; close reports the rest and stops", async () => {
  const { port, counters, reports, posted } = attached();
  port.sync(7);
  assert.deepEqual(posted.map((m) => m.t), ["counters", "synced"]);
  counters.inc("sip_x_total");
  port.close();
  assert.deepEqual(reports()[1], [{ name: "sip_x_total", labels: {}, by: 1 }]);
  counters.inc("sip_x_total");
  await sleep(80);
  assert.equal(reports().length, 2, "nothing after close");
});
