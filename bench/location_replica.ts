/**
 * @module What keeping another worker's copy of the location table costs per registration,
 * in process (no threads, no sockets): a binding saved in one `LocationService` whose
 * observer writes the change into a worker ring (src/workers/ring.ts) as the workers do,
 * the ring drained and the change applied to a second table. Prints µs per change for the
 * write side (save + record written) and the read side (drain + apply), and for a save
 * alone. The bindings are the bench's: 8 AORs re-registered on one flow each, a new
 * Call-ID every time. `--root=DIR` (repeatable) runs trees side by side, interleaved over
 * `--rounds=N` (5; the first is warm-up), least and median printed. Not part of the product.
 */
import { arg, argAll } from "./support/args.ts";

const ROOTS = argAll("root").length ? argAll("root") : [new URL("../", import.meta.url).pathname];
const ROUNDS = Number(arg("rounds") ?? 5);
const N = Number(arg("changes") ?? 50_000);

type Pack = (binding: unknown, change: "saved" | "removed", cause?: string) => unknown;
type Unpack = (record: unknown) => unknown;

interface Tree {
  root: string;
  run(): { save: number; write: number; read: number };
}

async function load(root: string): Promise<Tree> {
  const { LocationService } = await import(`${root}/src/core/location.ts`);
  const { EventBus } = await import(`${root}/src/events.ts`);
  const { RingWriter, RingReader } = await import(`${root}/src/workers/ring.ts`);
  // The crossing form of the tree: packed records, or (before) the change object itself.
  let pack: Pack;
  let unpack: Unpack;
  try {
    const record = await import(`${root}/src/workers/location_record.ts`);
    pack = record.packChange;
    unpack = record.unpackChange;
    // A tree whose refreshes cross as their changed fields (a worker's ring back to main).
    if (record.RecordMemory) {
      const sent = new record.RecordMemory();
      const read = new record.RecordMemory();
      pack = (b, change, cause) => sent.pack(record.packChange(b, change, cause));
      unpack = (r) => record.unpackChange(read.unpack(r));
    }
  } catch {
    pack = (await import(`${root}/src/workers/protocol.ts`)).toChange;
    unpack = (r) => r;
  }
  const source = new LocationService(new EventBus());
  const copy = new LocationService(new EventBus());
  const alone = new LocationService(new EventBus());
  const { writer, buffer } = RingWriter.create();
  const reader = new RingReader(buffer);
  source.observe((b: unknown, change: "saved" | "removed", replica: boolean, cause?: string) => {
    if (!replica) {
      writer.write(
        { kind: "message", message: { t: "binding", change: pack(b, change, cause) } },
        false,
      );
    }
  });
  const apply = (r: { kind: string; message: { change: unknown } }) =>
    copy.applyReplica(unpack(r.message.change), false);
  const now = Date.now();
  const bindings = Array.from({ length: N }, (_, i) => bindingOf(i, now));
  const batch = 64;
  return {
    root,
    run() {
      let t = performance.now();
      for (const b of bindings) alone.save(b);
      const save = performance.now() - t;
      let write = 0;
      let read = 0;
      for (let i = 0; i < N; i += batch) {
        t = performance.now();
        for (let j = i; j < Math.min(N, i + batch); j++) source.save(bindings[j]);
        write += performance.now() - t;
        t = performance.now();
        reader.drain(apply);
        read += performance.now() - t;
      }
      const us = (ms: number) => (ms * 1000) / N;
      return { save: us(save), write: us(write), read: us(read) };
    },
  };
}

function bindingOf(i: number, now: number) {
  const n = i % 8;
  const user = `bench${n}`;
  const port = 40000 + n;
  const flowId = `udp:3fa09c1e.0:127.0.0.1:5060>127.0.0.1:${port}`;
  return {
    aor: `${user}@example.test`,
    domain: "example.test",
    user,
    contact: `sip:${user}@127.0.0.1:${port};transport=udp`,
    key: `u:sip:${user}@127.0.0.1:${port};udp`,
    contactHost: "127.0.0.1",
    contactUser: user,
    contactPort: port,
    contactAddress: { transport: "udp", host: "127.0.0.1", port },
    contactParams: "",
    flow: {
      id: flowId,
      owner: { node: "3fa09c1e", worker: 0 },
      transport: "udp",
      local: { host: "127.0.0.1", port: 5060 },
      remote: { host: "127.0.0.1", port },
      reliable: false,
      secure: false,
    },
    callId: `${i}-${n}@127.0.0.1`,
    cseq: 2,
    expiresAt: now + 3_600_000 + i,
    registeredAt: now,
    instance: undefined,
    regId: undefined,
    path: [],
    userAgent: undefined,
    outstandingPings: 0,
  };
}

const trees = await Promise.all(ROOTS.map(load));
const results = new Map<string, { save: number[]; write: number[]; read: number[] }>();
for (let round = 0; round < ROUNDS; round++) {
  for (const tree of trees) {
    const r = tree.run();
    const acc = results.get(tree.root) ?? { save: [], write: [], read: [] };
    acc.save.push(r.save);
    acc.write.push(r.write);
    acc.read.push(r.read);
    results.set(tree.root, acc);
  }
}
/** Least and median of the rounds after the first (warm-up): the least is the one least disturbed by other jobs. */
const fmt = (xs: number[]) => {
  const sorted = xs.slice(1).sort((a, b) => a - b);
  return `${sorted[0].toFixed(2)} (median ${sorted[sorted.length >> 1].toFixed(2)})`;
};
for (const [root, r] of results) {
  console.log(
    `${root}: µs per change, least (median) of ${ROUNDS - 1} rounds: save alone ${fmt(r.save)}; ` +
      `save + record written ${fmt(r.write)}; drained + applied ${fmt(r.read)}`,
  );
}
