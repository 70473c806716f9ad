/**
 * @module A worker thread's side of the SIP workers: its links to the others (a relay goes
 * straight into the other worker's ring), its location changes sent out, and its counters and
 * events reported to the main thread, which speaks for the whole server.
 */
import type { LocationService } from "../core/location.ts";
import type { Decision, InboundInfo } from "../core/calls/inbound_offer.ts";
import type { DialogTracker } from "../core/dialogs.ts";
import type { Counters, EventBus } from "../events.ts";
import type { WorkerLinks } from "../transport/worker_links.ts";
import type { Connection } from "../transport/connection.ts";
import { snapshotOf } from "./mirror.ts";
import type { Flow } from "../transport/types.ts";
import {
  type CounterDelta,
  FORWARDED_EVENTS,
  type FromWorker,
  type Relay,
  type ToWorker,
} from "./protocol.ts";
import { RingWriter } from "./ring.ts";
import { packChange, RecordMemory } from "./location_record.ts";
import { FlowRefsOut } from "./flow_refs.ts";

/** How often connection figures (messages, bytes, last activity) are reported. */
const CONNECTIONS_EVERY_MS = 1000;

/**
 * How long after a change counters are reported unasked (the API asks before it reads: `sync`).
 */
const COUNTERS_EVERY_MS = 50;

export class WorkerPort implements WorkerLinks {
  readonly index: number;
  readonly count: number;
  #post: (message: FromWorker) => void;
  /** Reports counters and connections now (set by `attach` and `reportConnections`). */
  #flushers: (() => void)[] = [];
  #closers: (() => void)[] = [];
  /** Inbound calls waiting for the control server's word, by request id. */
  #decisions = new Map<number, (decision: Decision | undefined) => void>();
  #nextDecision = 1;

  /** Applies what this worker's ring holds (set by worker_main.ts once it serves). */
  catchUp?: () => void;

  /** The other worker threads' inbound rings (undefined at 0 and at this worker). */
  #peers: (RingWriter<ToWorker> | undefined)[];
  /** The flows this worker's relays named for each worker, by its index (flow_refs.ts). */
  #flowRefs: FlowRefsOut[] = [];

  constructor(
    index: number,
    count: number,
    post: (message: FromWorker) => void,
    peers: (SharedArrayBuffer | undefined)[] = [],
  ) {
    this.index = index;
    this.count = count;
    this.#post = post;
    this.#peers = peers.map((ring, i) =>
      ring && i !== index ? new RingWriter<ToWorker>(ring) : undefined
    );
    for (let w = 0; w < count; w++) this.#flowRefs.push(new FlowRefsOut(index));
  }

  // `bytes` cross as they are, no copy of their own first: they are copied into the ring, or
  // kept while it is full, and a view of a slab stays valid (slabs are never reused:
  // sip/slab.ts, sip/message.ts).
  handOff(worker: number, bytes: Uint8Array, flow: Flow): void {
    this.#relay(this.#flowRefs[worker].relay("sip", worker, bytes, flow));
  }

  sendVia(worker: number, bytes: Uint8Array, flow: Flow): void {
    this.#relay(this.#flowRefs[worker].relay("send", worker, bytes, flow));
  }

  behind(): boolean {
    return this.#peers.some((ring) => ring?.backlogged);
  }

  /** Straight into the other worker thread's ring; through the main thread's for worker 0. */
  #relay(relay: Relay): void {
    const peer = this.#peers[relay.to];
    if (peer) peer.write({ kind: "message", message: relay });
    else this.#post(relay);
  }

  announce(flow: Flow, open: boolean): void {
    this.#post({ t: "flow", flow, open });
  }

  /** Asks the main thread (where the API lives) what the control server says of a call. */
  decide(info: InboundInfo): Promise<Decision | undefined> {
    const id = this.#nextDecision++;
    return new Promise((resolve) => {
      this.#decisions.set(id, resolve);
      this.#post({ t: "decide", id, info });
    });
  }

  decided(id: number, decision: Decision | undefined): void {
    this.#decisions.get(id)?.(decision);
    this.#decisions.delete(id);
  }

  /** Starts reporting this worker's location changes, counters and events. */
  attach(
    location: LocationService,
    dialogs: DialogTracker,
    counters: Counters,
    events: EventBus,
  ): void {
    // A refresh crosses as the fields it changed (location_record.ts `RecordMemory`).
    const sent = new RecordMemory();
    this.#closers.push(location.observe((binding, change, replica, cause) => {
      if (replica) return;
      this.#post({ t: "binding", change: sent.pack(packChange(binding, change, cause)) });
    }));
    // The main thread's tracker lists every worker's calls (the API and dashboard read it).
    this.#closers.push(events.on("dialog.changed", ({ callId }) => {
      const view = dialogs.current(callId);
      if (view) this.#post({ t: "dialog", view });
    }));
    for (const type of FORWARDED_EVENTS) {
      this.#closers.push(events.on(type, (event) => this.#post({ t: "event", event })));
    }
    this.#reportCountersOnChange(counters);
  }

  /**
   * Reports counters `COUNTERS_EVERY_MS` after a change, so the dashboard lags by that much
   * at most; a thread whose counters stay put is not woken for them (`Counters.nextChange`).
   * `sync` reports at once.
   */
  #reportCountersOnChange(counters: Counters): void {
    /** The value last reported, by entry index (`Counters.entries`). */
    const reported: number[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    let closed = false;
    const report = () => {
      const deltas: CounterDelta[] = [];
      const entries = counters.entries;
      for (let i = 0; i < entries.length; i++) {
        const { name, labels, value } = entries[i];
        const by = value - (reported[i] ?? 0);
        if (by === 0) continue;
        reported[i] = value;
        deltas.push({ name, labels, by });
      }
      if (deltas.length > 0) this.#post({ t: "counters", deltas });
    };
    const arm = () => {
      if (closed) return;
      timer ??= setTimeout(() => {
        timer = undefined;
        report();
        counters.nextChange(arm);
      }, COUNTERS_EVERY_MS);
    };
    counters.nextChange(arm);
    // Counts made before now (at start-up) go out in the first report.
    arm();
    this.#flushers.push(report);
    this.#closers.push(() => {
      closed = true;
      clearTimeout(timer);
      report();
    });
  }

  /** Reports this worker's connections every second (the main thread lists them). */
  reportConnections(connections: () => Connection[]): void {
    let had = false;
    const report = () => {
      const list = connections();
      if (list.length === 0 && !had) return;
      had = list.length > 0;
      this.#post({ t: "conns", snapshots: list.map(snapshotOf) });
    };
    const timer = setInterval(report, CONNECTIONS_EVERY_MS);
    this.#flushers.push(report);
    this.#closers.push(() => clearInterval(timer));
  }

  /**
   * The main thread asks before the API reads: counters and connection figures go now,
   * then `synced`, which arrives after them (one ordered channel).
   */
  sync(id: number): void {
    for (const flush of this.#flushers) flush();
    this.#post({ t: "synced", id });
  }

  /** Stops reporting (after a last counters report). */
  close(): void {
    for (const close of this.#closers.splice(0)) close();
    for (const peer of this.#peers) peer?.close();
  }
}
