/**
 * @module A worker thread's side of the SIP workers: its links to the others (every relay
 * goes through the main thread), its location changes sent out, and its counters and
 * events reported to the main thread, which speaks for the whole server.
 */
import type { LocationService } from "../core/location.ts";
import type { DialogTracker } from "../core/dialogs.ts";
import type { Counters, EventBus } from "../events.ts";
import type { WorkerLinks } from "../transport/worker_links.ts";
import type { Flow } from "../transport/types.ts";
import {
  type CounterDelta,
  FORWARDED_EVENTS,
  type FromWorker,
  ownBytes,
  toChange,
} from "./protocol.ts";

/** How often counters are reported: the API's figures lag the workers by at most this. */
const COUNTERS_EVERY_MS = 250;

export class WorkerPort implements WorkerLinks {
  readonly index: number;
  readonly count: number;
  #post: (message: FromWorker) => void;
  #timer?: ReturnType<typeof setInterval>;
  #closers: (() => void)[] = [];

  constructor(index: number, count: number, post: (message: FromWorker) => void) {
    this.index = index;
    this.count = count;
    this.#post = post;
  }

  handOff(worker: number, bytes: Uint8Array, flow: Flow): void {
    this.#post({ t: "sip", to: worker, bytes: ownBytes(bytes), flow });
  }

  sendVia(worker: number, bytes: Uint8Array, flow: Flow): void {
    this.#post({ t: "send", to: worker, bytes: ownBytes(bytes), flow });
  }

  announce(flow: Flow, open: boolean): void {
    this.#post({ t: "flow", flow, open });
  }

  /** Starts reporting this worker's location changes, counters and events. */
  attach(
    location: LocationService,
    dialogs: DialogTracker,
    counters: Counters,
    events: EventBus,
  ): void {
    this.#closers.push(location.observe((binding, change, replica, cause) => {
      if (!replica) this.#post({ t: "binding", change: toChange(binding, change, cause) });
    }));
    // The main thread's tracker lists every worker's calls (the API and dashboard read it).
    this.#closers.push(events.on("dialog.changed", ({ callId }) => {
      const view = dialogs.current(callId);
      if (view) this.#post({ t: "dialog", view });
    }));
    for (const type of FORWARDED_EVENTS) {
      this.#closers.push(events.on(type, (event) => this.#post({ t: "event", event })));
    }
    const reported = new Map<string, number>();
    this.#timer = setInterval(() => this.#reportCounters(counters, reported), COUNTERS_EVERY_MS);
    this.#closers.push(() => {
      clearInterval(this.#timer);
      this.#reportCounters(counters, reported);
    });
  }

  #reportCounters(counters: Counters, reported: Map<string, number>): void {
    const deltas: CounterDelta[] = [];
    for (const entry of counters.snapshot()) {
      const key = `${entry.name}${JSON.stringify(entry.labels)}`;
      const by = entry.value - (reported.get(key) ?? 0);
      if (by === 0) continue;
      reported.set(key, entry.value);
      deltas.push({ name: entry.name, labels: entry.labels, by });
    }
    if (deltas.length > 0) this.#post({ t: "counters", deltas });
  }

  /** Stops reporting (after a last counters report). */
  close(): void {
    for (const close of this.#closers.splice(0)) close();
  }
}
