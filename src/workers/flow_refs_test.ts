import assert from "node:assert/strict";
import type { Flow } from "../transport/types.ts";
import { FLOW_SLOTS, FlowRefsIn, FlowRefsOut } from "./flow_refs.ts";
import type { Relay } from "./protocol.ts";
import { RingReader, type RingRecord, RingWriter } from "./ring.ts";

const bytes = new TextEncoder().encode("OPTIONS sip:a@b SIP/2.0\r\n\r\n");

function tcpFlow(n: number, worker = 1): Flow {
  return {
    id: `tcp:n1.${worker}.abcd-${n}`,
    owner: { node: "n1", worker },
    transport: "tcp",
    local: { host: "127.0.0.1", port: 5060 },
    remote: { host: "127.0.0.1", port: 40000 + n },
    reliable: true,
    secure: false,
  };
}

/** Writes `relays` through a real ring and reads each back as its reader would. */
function across(relays: Relay[], into: FlowRefsIn): (Flow | undefined)[] {
  const { writer, buffer } = RingWriter.create<Relay>();
  const reader = new RingReader<Relay>(buffer);
  for (const relay of relays) writer.write({ kind: "message", message: relay }, false);
  const flows: (Flow | undefined)[] = [];
  reader.drain((r: RingRecord<Relay>) => {
    if (r.kind === "message") flows.push(into.flowOf(r.message));
  });
  writer.close();
  return flows;
}

Deno.test("a flow crosses whole once, then as its number", () => {
  const out = new FlowRefsOut(1);
  const a = tcpFlow(1);
  const first = out.relay("sip", 0, bytes, a);
  const second = out.relay("send", 0, bytes, a);
  assert.deepEqual(first.flow, a);
  assert.equal(typeof first.ref, "number");
  assert.equal(second.flow, undefined);
  assert.equal(second.ref, first.ref);
  const [read1, read2] = across([first, second], new FlowRefsIn());
  assert.deepEqual(read1, a);
  assert.equal(read2, read1);
});

Deno.test("writers number flows apart, so one reader keeps every writer's", () => {
  const into = new FlowRefsIn();
  const fromMain = new FlowRefsOut(0);
  const fromTwo = new FlowRefsOut(2);
  const a = tcpFlow(1, 0);
  const b = tcpFlow(2, 2);
  const flows = across([
    fromMain.relay("sip", 1, bytes, a),
    fromTwo.relay("sip", 1, bytes, b),
    fromMain.relay("sip", 1, bytes, a),
    fromTwo.relay("send", 1, bytes, b),
  ], into);
  assert.deepEqual(flows.map((f) => f?.id), [a.id, b.id, a.id, b.id]);
});

Deno.test("a UDP flow always crosses whole", () => {
  const out = new FlowRefsOut(1);
  const udp: Flow = {
    ...tcpFlow(1),
    id: "udp:n1.0:127.0.0.1:5060>127.0.0.1:4000",
    transport: "udp",
  };
  const relay = out.relay("sip", 0, bytes, udp);
  assert.equal(relay.ref, undefined);
  assert.deepEqual(out.relay("sip", 0, bytes, udp).flow, udp);
});

Deno.test("past the table's size the oldest number is reused, and the reader follows", () => {
  const out = new FlowRefsOut(1);
  const into = new FlowRefsIn();
  const relays: Relay[] = [];
  for (let n = 0; n <= FLOW_SLOTS; n++) relays.push(out.relay("sip", 0, bytes, tcpFlow(n)));
  // Flow 0's number went to the last flow: flow 0 crosses whole again, under a new number.
  const again = out.relay("sip", 0, bytes, tcpFlow(0));
  assert.deepEqual(again.flow, tcpFlow(0));
  relays.push(again, out.relay("sip", 0, bytes, tcpFlow(FLOW_SLOTS)));
  relays.push(out.relay("sip", 0, bytes, tcpFlow(0)));
  const flows = across(relays, into);
  assert.deepEqual(
    flows.slice(-3).map((f) => f?.id),
    [tcpFlow(0).id, tcpFlow(FLOW_SLOTS).id, tcpFlow(0).id],
  );
  assert.equal(flows.length, FLOW_SLOTS + 4);
  assert.ok(flows.every((f, i) => f !== undefined && i >= 0));
});
