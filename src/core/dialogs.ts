/**
 * @module Dialog tracking for the API and dashboard (RFC 3261 §12 states as a proxy sees
 * them): the proxy reports what passes through it (an initial INVITE, responses to it, a
 * BYE, a CANCEL) and this module keeps one record per call (keyed by Call-ID) with both
 * legs' transports and remote addresses and the start/answer/end times, publishing
 * `dialog.changed`. It observes only: it never sends, answers or changes a message, and a
 * failure here never affects routing. Terminated dialogs linger briefly, then are dropped.
 */
import type { DialogView, EventBus } from "../events.ts";
import type { SipRequest, SipResponse } from "../sip/message.ts";
import { formatHost } from "../sip/uri.ts";
import type { Flow } from "../transport/types.ts";

export interface DialogTrackerOptions {
  events?: EventBus;
  now?: () => number;
  /** How long a terminated dialog stays listed, ms (default 30 s). */
  lingerMs?: number;
  /** Upper bound on tracked dialogs; the oldest terminated go first (default 100k). */
  maxDialogs?: number;
  /**
   * A dialog with no BYE seen for this long is ended (ms, default 12 h as Kamailio's
   * dialog timeout): a BYE lost on the way must not keep a call listed forever.
   */
  lifetimeMs?: number;
}

type Leg = DialogView["caller"];

/** Legs kept by flow id: the calls of one phone or trunk share one (a terminated call's lingers). */
const MAX_LEGS = 1024;
/** Drops spent slots of the ended queue once at least this many lead it (and half of it). */
const COMPACT_AT = 1024;

/**
 * Joins `parts` into one flat string: a template literal makes a tree of concatenated-string
 * nodes over its parts (which may be slices of a received message), and a terminated
 * dialog's strings live for its linger.
 */
function flat(...parts: (string | number)[]): string {
  return parts.join("");
}

/** user@host of a From or To URI (the host alone when it has no user), flat. */
function party(uri: { user?: string; host: string }): string {
  return uri.user ? flat(uri.user, "@", uri.host) : flat(uri.host);
}

export class DialogTracker {
  /** By Call-ID; the views are ours (never handed out: `list` and `current` copy). */
  #dialogs = new Map<string, DialogView>();
  /** Never changed once made: views share them and replace, never edit, a leg. */
  #legs = new Map<string, Leg>();
  #events?: EventBus;
  #now: () => number;
  #lingerMs: number;
  #max: number;
  #lifetimeMs: number;
  /**
   * Terminated views in the order they ended, so their linger (one delay for all) ends in
   * that order: a sweep drops the due ones from the head instead of scanning every dialog.
   * A slot whose view left the table (evicted, replaced) is skipped.
   */
  #ended: (DialogView | undefined)[] = [];
  #endedHead = 0;
  /** No live dialog reaches its lifetime before this (epoch ms): until then none is scanned. */
  #lifetimeScanAt = Infinity;

  constructor(options: DialogTrackerOptions = {}) {
    this.#events = options.events;
    this.#now = options.now ?? Date.now;
    this.#lingerMs = options.lingerMs ?? 30_000;
    this.#max = options.maxDialogs ?? 100_000;
    this.#lifetimeMs = options.lifetimeMs ?? 43_200_000;
  }

  /**
   * Called before every read: with several workers, the main thread first applies the views
   * workers have sent (one may still wait in its ring), so a read sees every change so far.
   */
  beforeRead?: () => void;

  /** Every tracked dialog, oldest first (terminated ones until their linger ends). */
  list(): DialogView[] {
    this.beforeRead?.();
    this.sweep();
    return [...this.#dialogs.values()].map((view) => ({
      ...view,
      caller: { ...view.caller },
      callee: view.callee ? { ...view.callee } : undefined,
    }));
  }

  get(callId: string): DialogView | undefined {
    return this.list().find((d) => d.callId === callId);
  }

  /** One dialog's view as it is now, without a sweep (O(1), for copying it elsewhere). */
  current(callId: string): DialogView | undefined {
    this.beforeRead?.();
    const view = this.#dialogs.get(callId);
    return view &&
      { ...view, caller: { ...view.caller }, callee: view.callee && { ...view.callee } };
  }

  /** Live (not terminated) dialogs. */
  get active(): number {
    this.beforeRead?.();
    let n = 0;
    for (const view of this.#dialogs.values()) if (view.state !== "terminated") n++;
    return n;
  }

  /** An initial INVITE was accepted for forwarding from `flow`: an early dialog begins. */
  invite(request: SipRequest, flow: Flow): void {
    const callId = request.callId;
    const existing = this.#dialogs.get(callId);
    if (existing && existing.state !== "terminated") return;
    if (this.#dialogs.size >= this.#max) this.#evict();
    const startedAt = this.#now();
    this.#lifetimeScanAt = Math.min(this.#lifetimeScanAt, startedAt + this.#lifetimeMs);
    // Every field up front: those set later then live in the object, not in a property store.
    this.#dialogs.set(callId, {
      callId,
      from: party(request.from.uri),
      to: party(request.to.uri),
      state: "early",
      caller: this.#leg(flow),
      callee: undefined,
      startedAt,
      answeredAt: undefined,
      endedAt: undefined,
      kind: "proxied",
    });
    this.#emit(callId, "early");
  }

  /** A response to the initial INVITE came from the callee on `flow`. */
  response(response: SipResponse, flow: Flow): void {
    const view = this.#dialogs.get(response.callId);
    if (!view || view.state === "terminated") return;
    if (response.status < 200) {
      if (response.status > 100) view.callee ??= this.#leg(flow);
      return;
    }
    if (response.status < 300) {
      if (view.state === "confirmed") return; // a retransmission or another fork
      view.callee = this.#leg(flow);
      view.state = "confirmed";
      view.answeredAt = this.#now();
      this.#emit(view.callId, "confirmed");
    }
  }

  /**
   * A call sipws places or holds itself reports its current view: listed and
   * bounded like the proxied ones, `dialog.changed` on each state change.
   */
  put(view: DialogView): void {
    const existing = this.#dialogs.get(view.callId);
    if (!existing && this.#dialogs.size >= this.#max) this.#evict();
    this.#dialogs.set(view.callId, view);
    if (view.state === "terminated") this.#ended.push(view);
    else {
      this.#lifetimeScanAt = Math.min(this.#lifetimeScanAt, view.startedAt + this.#lifetimeMs);
    }
    if (existing?.state !== view.state || view.events?.length) {
      this.#emit(view.callId, view.state);
    }
  }

  /** The proxy sent the caller a final failure (≥300) for the initial INVITE. */
  failed(callId: string): void {
    this.#terminate(callId);
  }

  /** A BYE (either direction) or a CANCEL passed through. */
  ended(request: SipRequest): void {
    this.#terminate(request.callId);
  }

  /** Ends dialogs past their lifetime and drops terminated ones whose linger is over. */
  sweep(): void {
    const now = this.#now();
    if (now >= this.#lifetimeScanAt) {
      let next = Infinity;
      for (const view of this.#dialogs.values()) {
        if (view.state === "terminated") continue;
        const end = view.startedAt + this.#lifetimeMs;
        if (end <= now) this.#terminate(view.callId);
        else if (end < next) next = end;
      }
      this.#lifetimeScanAt = next;
    }
    while (this.#endedHead < this.#ended.length) {
      const view = this.#ended[this.#endedHead]!;
      if (this.#isCurrent(view) && (view.endedAt ?? 0) + this.#lingerMs > now) break;
      this.#dropEnded();
    }
  }

  /** `view` is the table's entry for its Call-ID and terminated (not replaced since it ended). */
  #isCurrent(view: DialogView): boolean {
    return view.state === "terminated" && this.#dialogs.get(view.callId) === view;
  }

  /** Takes the ended queue's head out, and out of the table if it is still the entry there. */
  #dropEnded(): void {
    const view = this.#ended[this.#endedHead]!;
    this.#ended[this.#endedHead++] = undefined;
    if (this.#isCurrent(view)) this.#dialogs.delete(view.callId);
    if (this.#endedHead === this.#ended.length) {
      this.#ended = [];
      this.#endedHead = 0;
    } else if (this.#endedHead >= COMPACT_AT && this.#endedHead * 2 >= this.#ended.length) {
      this.#ended = this.#ended.slice(this.#endedHead);
      this.#endedHead = 0;
    }
  }

  #terminate(callId: string): void {
    const view = this.#dialogs.get(callId);
    if (!view || view.state === "terminated") return;
    view.state = "terminated";
    view.endedAt = this.#now();
    this.#ended.push(view);
    this.#emit(callId, "terminated");
  }

  #evict(): void {
    this.sweep();
    // Down to 90 % of the bound, those that ended first first: at a call rate whose
    // lingering dialogs fill the table, this is paid once per tenth of it, not per call.
    const target = this.#max - Math.ceil(this.#max / 10);
    while (this.#dialogs.size > target && this.#endedHead < this.#ended.length) this.#dropEnded();
    // Still full of live dialogs: the oldest goes (bounded memory beats completeness).
    const oldest = this.#dialogs.keys().next();
    if (this.#dialogs.size >= this.#max && !oldest.done) this.#dialogs.delete(oldest.value);
  }

  /** Where a flow leads, as views show it: one object per flow while it is in use. */
  #leg(flow: Flow): Leg {
    let leg = this.#legs.get(flow.id);
    if (leg === undefined) {
      if (this.#legs.size >= MAX_LEGS) this.#legs.clear();
      leg = {
        transport: flow.transport,
        remote: flat(formatHost(flow.remote.host), ":", flow.remote.port),
      };
      this.#legs.set(flow.id, leg);
    }
    return leg;
  }

  #emit(callId: string, state: DialogView["state"]): void {
    this.#events?.emit({ type: "dialog.changed", callId, state });
  }
}
