/**
 * @module In-thread cost of one relay record through src/workers/ring.ts (a message handed to
 * its call's worker, or a send on another worker's connection: protocol.ts `Relay`), written
 * by a worker thread's `WorkerPort.handOff` (to the main thread) and read back as its reader
 * does, a 700-byte message (a view of a larger buffer, as the transport's slabs give) on one
 * of 8 TCP flows, drained every 8 records, no thread wake-up involved. A tree with
 * src/workers/flow_refs.ts names each flow by its number after its first relay; a tree
 * without carries the whole flow each time. Per tree (`--root=DIR`, repeatable; default this
 * checkout), `--rounds=N` interleaved, CPU µs per record. Not part of the product.
 */
import { existsSync } from "node:fs";
import { arg, argAll } from "./support/args.ts";
import { usPerRecord, WARM_UP } from "./support/ring_records.ts";

const ROOTS = argAll("root").length ? argAll("root") : [new URL("../", import.meta.url).pathname];
const ROUNDS = Number(arg("rounds") ?? 3);
const RECORDS = 400_000;
const FLOWS = 8;

interface Flow {
  id: string;
  transport: string;
}
type Relay = { bytes: Uint8Array; flow?: Flow; ref?: number };

const bytes = new Uint8Array(128 * 1024).fill(65).subarray(1024, 1724);
const flows = Array.from({ length: FLOWS }, (_, i) => ({
  id: `tcp:3fa09c1e.1.k2x9-${i + 1}`,
  owner: { node: "3fa09c1e", worker: 1 },
  transport: "tcp",
  local: { host: "127.0.0.1", port: 5060 },
  remote: { host: "127.0.0.1", port: 40000 + i },
  reliable: true,
  secure: false,
}));

for (let round = 0; round < ROUNDS; round++) {
  for (const root of ROOTS) {
    const ring = await import(`${root}/src/workers/ring.ts`);
    const { WorkerPort } = await import(`${root}/src/workers/port.ts`);
    const hasRefs = existsSync(`${root}/src/workers/flow_refs.ts`);
    const refs = hasRefs ? await import(`${root}/src/workers/flow_refs.ts`) : undefined;
    const into = refs ? new refs.FlowRefsIn() : undefined;
    const flowOf = (m: Relay): Flow | undefined => into ? into.flowOf(m) : m.flow;
    const { writer, buffer } = ring.RingWriter.create();
    // Worker 1 of 2: a relay to worker 0 goes through `post`, onto its ring back to main.
    const port = new WorkerPort(
      1,
      2,
      (message: Relay) => writer.write({ kind: "message", message }, false),
    );
    const reader = new ring.RingReader(buffer);
    let read = 0;
    const handle = (r: { message: Relay }) => {
      read += r.message.bytes.length;
      if (flowOf(r.message)?.transport !== "tcp") throw new Error("flow lost");
    };
    let i = 0;
    const us = usPerRecord(
      () => port.handOff(0, bytes, flows[i++ % FLOWS]),
      () => reader.drain(handle),
      RECORDS,
    );
    writer.close();
    if (read !== (RECORDS + WARM_UP) * bytes.length) throw new Error("records lost");
    const how = hasRefs ? "flow by number" : "whole flow";
    console.log(
      `${root.padEnd(28)} relay record (${how}) written and read: ${us.toFixed(2)} µs CPU`,
    );
  }
}
