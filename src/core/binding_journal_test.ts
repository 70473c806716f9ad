import assert from "node:assert/strict";
import { EventBus } from "../events.ts";
import { parseUri } from "../sip/uri.ts";
import type { BindingChanges, BindingStore, StoredBinding } from "../store/binding_store.ts";
import { JsonBindingStore } from "../store/json_binding_store.ts";
import { SqliteBindingStore } from "../store/sqlite_binding_store.ts";
import type { TransportName } from "../transport/types.ts";
import { BindingJournal, restorable, toStored } from "./binding_journal.ts";
import { testFlow } from "./fixtures_test.ts";
import { type Binding, contactFields } from "./binding.ts";
import { LocationService } from "./location.ts";
import { streamFlowId } from "../transport/flow_id.ts";

const HOUR = 3_600_000;
/** The process that wrote the journal (this test plays the next one). */
const PREVIOUS_RUN = { node: "n1", worker: 0 };

function binding(
  user: string,
  contact: string,
  transport: TransportName,
  extra: { instance?: string; regId?: number } = {},
): Binding {
  return {
    aor: `${user}@example.test`,
    domain: "example.test",
    user,
    ...contactFields(contact, parseUri(contact), extra),
    contactParams: "",
    flow: { ...testFlow(transport, streamFlowId(transport, PREVIOUS_RUN)), owner: PREVIOUS_RUN },
    callId: `c-${user}`,
    cseq: 3,
    expiresAt: Date.now() + HOUR,
    registeredAt: Date.now(),
    path: ["<sip:edge.example.test;lr>"],
    outstandingPings: 0,
    ...extra,
  };
}

/** Records batches instead of writing them. */
class RecordingStore implements BindingStore {
  batches: BindingChanges[] = [];
  stored: StoredBinding[] = [];
  load() {
    return Promise.resolve(this.stored);
  }
  apply(changes: BindingChanges) {
    this.batches.push(changes);
    return Promise.resolve();
  }
  close() {}
}

Deno.test("restorable: UDP and TCP/TLS with an address Contact; not WS, .invalid or Outbound", () => {
  const udpBinding = binding("a", "sip:a@127.0.0.1:5070", "udp");
  const udp = restorable(toStored(udpBinding));
  assert.equal(udp?.flow.id, udpBinding.flow.id);
  assert.deepEqual(udp?.path, ["<sip:edge.example.test;lr>"]);
  const tcp = restorable(toStored(binding("b", "sip:b@127.0.0.1:5070;transport=tcp", "tcp")));
  // A stream flow's old id must never match a new connection of this process: even on
  // the same node and worker, ids differ (they carry the run: src/transport/layer_test.ts).
  const fresh = streamFlowId("tcp", PREVIOUS_RUN);
  assert.ok(tcp && tcp.flow.id !== fresh && tcp.flow.transport === "tcp");
  assert.equal(restorable(toStored(binding("c", "sip:c@x.invalid;transport=ws", "ws"))), undefined);
  assert.equal(
    restorable(toStored(binding("d", "sip:d@127.0.0.1:5070;transport=tcp", "ws"))),
    undefined,
  );
  const outbound = binding("e", "sip:e@127.0.0.1:5070", "udp", { instance: "<urn:x>", regId: 1 });
  assert.equal(restorable(toStored(outbound)), undefined);
});

Deno.test("journal: changes are batched (latest per binding wins), written by flush", async () => {
  const store = new RecordingStore();
  const location = new LocationService(new EventBus());
  const journal = new BindingJournal(store, location);
  journal.start(60_000);
  const a = binding("a", "sip:a@127.0.0.1:5070", "udp");
  const b = binding("b", "sip:b@127.0.0.1:5071", "udp");
  location.save(a);
  location.save({ ...a, cseq: 4 });
  location.save(b);
  location.remove(location.get(b.aor, toStored(b).key)!, "unregistered");
  assert.equal(store.batches.length, 0, "nothing written on the REGISTER's path");
  await journal.flush();
  assert.equal(store.batches.length, 1);
  assert.deepEqual(store.batches[0].put.map((s) => [s.aor, s.cseq]), [["a@example.test", 4]]);
  assert.deepEqual(store.batches[0].remove.map((r) => r.aor), ["b@example.test"]);
  await journal.close();
  assert.equal(store.batches.length, 1, "an empty queue writes nothing");
});

for (const kind of ["sqlite", "json"] as const) {
  Deno.test(`${kind} binding store: a batch survives reopening; expired ones are not loaded`, async () => {
    const dir = await Deno.makeTempDir();
    const open = () =>
      kind === "sqlite"
        ? SqliteBindingStore.open(`${dir}/s.db`)
        : new JsonBindingStore(`${dir}/s.bindings.json`);
    try {
      const first = open();
      const live = toStored(binding("a", "sip:a@127.0.0.1:5070", "udp"));
      const gone = toStored(binding("b", "sip:b@127.0.0.1:5071", "udp"));
      const old = { ...toStored(binding("c", "sip:c@127.0.0.1:5072", "udp")), expiresAt: 1 };
      await first.load(Date.now());
      await first.apply({ put: [live, gone, old], remove: [] });
      await first.apply({ put: [], remove: [{ aor: gone.aor, key: gone.key }] });
      first.close();
      const second = open();
      assert.deepEqual(await second.load(Date.now()), [live]);
      second.close();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
