/**
 * @module Flow identity: who owns a flow and the globally unique id that names it. A flow
 * belongs to one worker on one node (the process whose socket carries it); its id carries
 * that owner, so a flow reference stored in a binding or a flow token can leave the
 * process and still say where the flow lives. Only the transport layer builds flow ids.
 */
import type { Address, FlowOwner, TransportName } from "./types.ts";

/**
 * This process: a random node id unless configured (a cluster node's id, which may be a host
 * name), worker 0 unless told otherwise.
 */
export function localOwner(node?: string, worker = 0): FlowOwner {
  if (node !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(node)) {
    throw new Error(`node id ${JSON.stringify(node)}: use 1-64 letters, digits, ., - or _`);
  }
  return { node: node ?? randomNodeId(), worker };
}

function randomNodeId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(4));
  let out = "";
  for (const b of bytes) out += (b < 16 ? "0" : "") + b.toString(16);
  return out;
}

/**
 * This process's run: ids stored with a binding outlive the process, so a restarted worker
 * with the same node id and number must not hand out the same ids again.
 */
const RUN = (crypto.getRandomValues(new Uint32Array(1))[0] % 36 ** 4).toString(36).padStart(4, "0");
/**
 * The process's connection counter, in shared memory: the main thread hands it to its
 * worker threads (`streamCounter`, `shareStreamCounter`), so the counter ending every
 * connection id numbers the connections of all workers in opening order (`GET /ws?order=id`).
 */
let streams = new BigInt64Array(new SharedArrayBuffer(8));

/** This process's connection counter, for the worker threads it starts. */
export function streamCounter(): SharedArrayBuffer {
  return streams.buffer as SharedArrayBuffer;
}

/** A worker thread counts its connections on the process's counter (before any opens). */
export function shareStreamCounter(buffer: SharedArrayBuffer): void {
  streams = new BigInt64Array(buffer);
}

/** A connection's id: `<transport>:<node>.<worker>.<run>-<counter>`, e.g. "ws:3fa09c1e.0.k2x9-7". */
export function streamFlowId(transport: TransportName, owner: FlowOwner): string {
  const n = Atomics.add(streams, 0, 1n) + 1n;
  return `${transport}:${owner.node}.${owner.worker}.${RUN}-${n}`;
}

/** A UDP flow's id: the owner, our socket and the remote address (the same in every run). */
export function udpFlowId(owner: FlowOwner, local: Address, remote: Address): string {
  return `udp:${owner.node}.${owner.worker}:${local.host}:${local.port}>${remote.host}:${remote.port}`;
}

/** True when `owner` is this process (`local`). */
export function sameOwner(owner: FlowOwner, local: FlowOwner): boolean {
  return owner.worker === local.worker && owner.node === local.node;
}
