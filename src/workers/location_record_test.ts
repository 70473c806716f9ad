import assert from "node:assert/strict";
import type { Binding } from "../core/location.ts";
import { Decoder, Encoder } from "./ring_codec.ts";
import { BINDING_FIELDS, packChange, RecordMemory, unpackChange } from "./location_record.ts";

/** Through the ring's binary form, as a record crosses to another worker. */
function crossed(record: unknown[]): unknown[] {
  const bytes = new Encoder().encode(2, record).slice();
  return new Decoder(bytes, new DataView(bytes.buffer)).decode(1) as unknown[];
}

const full: Binding = {
  aor: "alice@example.test",
  key: "i:<urn:uuid:00000000-0000-1000-8000-000000000001>|1",
  domain: "example.test",
  user: "alice",
  contact: "sip:alice@df7jal23ls0d.invalid;transport=ws",
  contactParams: ';+sip.instance="<urn:uuid:00000000-0000-1000-8000-000000000001>";reg-id=1',
  contactHost: "df7jal23ls0d.invalid",
  contactUser: "alice",
  contactPort: 5062,
  contactAddress: { transport: "tcp", host: "192.0.2.1", port: 5062 },
  flow: {
    id: "ws:3fa0.1.k2x9-7",
    owner: { node: "3fa0", worker: 1 },
    transport: "ws",
    local: { host: "127.0.0.1", port: 8080 },
    remote: { host: "::1", port: 40000 },
    reliable: true,
    secure: false,
  },
  callId: "a84b4c76e66710@pc33",
  cseq: 4294967295,
  expiresAt: 1_796_444_581_889.5,
  registeredAt: 1_796_444_000_000,
  instance: "<urn:uuid:00000000-0000-1000-8000-000000000001>",
  regId: 1,
  path: ["<sip:p1.example.test;lr>", "<sip:p2;lr>"],
  userAgent: "Zoë's phone ☎",
  outstandingPings: 2,
};

Deno.test("location record: a saved binding comes back with every field", () => {
  const change = unpackChange(crossed(packChange(full, "saved", undefined)));
  assert.equal(change.op, "saved");
  const binding = (change as { binding: Binding }).binding;
  assert.deepEqual(binding, full);
  // Every field of Binding has a place in the record (BINDING_FIELDS type-checks that),
  // and each came back set.
  for (const key of Object.keys(BINDING_FIELDS)) {
    assert.notEqual(binding[key as keyof Binding], undefined, key);
  }
});

Deno.test("location record: absent optional fields stay absent", () => {
  const bare: Binding = {
    ...full,
    contactUser: undefined,
    contactPort: undefined,
    contactAddress: undefined,
    flow: { ...full.flow, id: "udp:3fa0.0:127.0.0.1:5060>127.0.0.1:5070", owner: undefined },
    instance: undefined,
    regId: undefined,
    path: [],
    userAgent: undefined,
  };
  const binding = (unpackChange(crossed(packChange(bare, "saved", undefined))) as {
    binding: Binding;
  }).binding;
  assert.deepEqual(binding, bare);
  assert.equal(binding.userAgent, undefined);
  assert.equal(binding.flow.owner, undefined);
});

Deno.test("location record: a removal names the AOR, the key and the cause", () => {
  assert.deepEqual(unpackChange(crossed(packChange(full, "removed", "flow_closed"))), {
    op: "removed",
    aor: full.aor,
    key: full.key,
    cause: "flow_closed",
  });
  assert.deepEqual(unpackChange(crossed(packChange(full, "removed", undefined))), {
    op: "removed",
    aor: full.aor,
    key: full.key,
    cause: "admin",
  });
});

Deno.test("location record: one flow rebuilt once, shared by the bindings on it", () => {
  const a = unpackChange(crossed(packChange(full, "saved", undefined))) as { binding: Binding };
  const b = unpackChange(crossed(packChange({ ...full, cseq: 7 }, "saved", undefined))) as {
    binding: Binding;
  };
  assert.equal(a.binding.flow, b.binding.flow);
});

Deno.test("location record: a refresh crosses as its changed fields and is rebuilt whole", () => {
  const sent = new RecordMemory();
  const read = new RecordMemory();
  const across = (b: Binding, change: "saved" | "removed" = "saved") =>
    unpackChange(read.unpack(crossed(sent.pack(packChange(b, change, "expired"))))!);
  const sparse: Binding = {
    ...full,
    contactUser: undefined,
    instance: undefined,
    regId: undefined,
    userAgent: undefined,
    path: [],
  };
  assert.deepEqual(across(sparse), { op: "saved", binding: sparse });
  // A refresh: new Call-ID, CSeq and times, every other field as before (new strings).
  const refresh: Binding = {
    ...sparse,
    contact: `${sparse.contact}`.slice(0),
    path: [],
    callId: "b2",
    cseq: 7,
    expiresAt: full.expiresAt + 60_000,
    registeredAt: full.registeredAt + 60_000,
  };
  const written = sent.pack(packChange(refresh, "saved", undefined));
  assert.deepEqual(written.slice(4), ["b2", 7, refresh.expiresAt, refresh.registeredAt]);
  assert.deepEqual(read.unpack(crossed(written)), crossed(packChange(refresh, "saved", undefined)));
  // Fields that change back and forth, optional ones included.
  const moved: Binding = { ...refresh, userAgent: "ua 2", path: ["<sip:p;lr>"], cseq: 8 };
  assert.deepEqual(across(moved), { op: "saved", binding: moved });
  assert.deepEqual(across({ ...moved, userAgent: undefined, cseq: 9 }), {
    op: "saved",
    binding: { ...moved, userAgent: undefined, cseq: 9 },
  });
  // Removed, then saved again: whole again, on both sides.
  assert.equal(across(moved, "removed").op, "removed");
  assert.equal(sent.pack(packChange(moved, "saved", undefined))[0], 1);
  assert.equal(read.unpack(crossed(packChange(moved, "saved", undefined)))?.[0], 1);
  // A refresh of a binding the reader does not know is refused, not guessed.
  assert.equal(
    new RecordMemory().unpack(crossed(sent.pack(packChange(moved, "saved", undefined)))),
    undefined,
  );
  // Another AOR with the same binding key is a binding of its own.
  const other: Binding = { ...moved, aor: "bob@example.test", user: "bob" };
  assert.deepEqual(across(other), { op: "saved", binding: other });
});
