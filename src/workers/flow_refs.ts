/**
 * @module Relays (protocol.ts `Relay`: a message handed to its call's worker, a send on another
 * worker's connection) name their stream flow by a small number the reader already holds,
 * not the whole flow object encoded and rebuilt each time. Each writer numbers the flows it
 * sends one reader: the first relay of a flow carries it whole with its number, which the
 * reader keeps; the next ones carry the number alone. Writer and reader see the same records
 * in the same order (one ring per reader, ordered per writer), so their tables agree whatever
 * else crosses (announcements through the main thread included), and the writer reuses the
 * oldest number when its table is full. A UDP flow is not numbered: main hands datagrams over
 * as their source address (ring.ts), and a UDP flow is reached from any worker's socket.
 */
import type { Flow } from "../transport/types.ts";
import type { Relay } from "./protocol.ts";

/** Flows one writer keeps numbered for one reader; the oldest number is reused past it. */
export const FLOW_SLOTS = 1024;

/** A writer's flows numbered for one reader. */
export class FlowRefsOut {
  /** Flow id → its number; numbers start at `writer × FLOW_SLOTS`, so readers need no writer. */
  #numbers = new Map<string, number>();
  /** The flow id at each slot (to forget it when the slot is reused). */
  #ids: (string | undefined)[] = new Array(FLOW_SLOTS);
  #next = 0;
  readonly #base: number;

  /** `writer`: the writing worker's index (0 for the main thread). */
  constructor(writer: number) {
    this.#base = writer * FLOW_SLOTS;
  }

  /** The relay of `bytes` on `flow` as it crosses: the flow's number, and the flow if new. */
  relay(t: Relay["t"], to: number, bytes: Uint8Array, flow: Flow): Relay {
    if (flow.transport === "udp") return { t, to, bytes, flow };
    const known = this.#numbers.get(flow.id);
    if (known !== undefined) return { t, to, bytes, ref: known };
    const slot = this.#next;
    this.#next = slot + 1 === FLOW_SLOTS ? 0 : slot + 1;
    const old = this.#ids[slot];
    if (old !== undefined) this.#numbers.delete(old);
    this.#ids[slot] = flow.id;
    const ref = this.#base + slot;
    this.#numbers.set(flow.id, ref);
    return { t, to, bytes, flow, ref };
  }
}

/** A reader's flows by the numbers its writers gave them. */
export class FlowRefsIn {
  #flows = new Map<number, Flow>();

  /** The relay's flow (kept when it came whole); undefined only if a writer's record was lost. */
  flowOf(relay: Relay): Flow | undefined {
    const { flow, ref } = relay;
    if (ref === undefined) return flow;
    if (flow === undefined) return this.#flows.get(ref);
    this.#flows.set(ref, flow);
    return flow;
  }
}
