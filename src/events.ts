/**
 * @module Typed server events (`noun.pastTense`) and counters. Layers publish here; the API,
 * the dashboard and the control callbacks subscribe. Publishing never throws into the
 * publisher: a failing subscriber is isolated.
 */
import type { Flow } from "./transport/types.ts";

export interface BindingView {
  aor: string;
  domain: string;
  user: string;
  contact: string;
  flow: Flow;
  userAgent?: string;
  expiresAt: number;
  registeredAt: number;
  instance?: string;
  regId?: number;
  outstandingPings: number;
  /** In a cluster: the node owning the binding, when it is not this one. */
  node?: string;
}

/** A progress report of a call driven over HTTP, in the order it happened. */
export interface CallEvent {
  /** `transfer`: a NOTIFY of a REFER's progress; code and reason are its sipfrag status. */
  event: "trying" | "ringing" | "answered" | "failed" | "ended" | "transfer";
  code?: number;
  reason?: string;
  /** The session description the event carries (the callee's offer or answer). */
  sdp?: string;
  /** Epoch ms. */
  at: number;
}

/** One leg of a call sipws placed or holds itself. */
export interface CallLegView {
  target: string;
  transport: string;
  remote: string;
  state: "calling" | "ringing" | "answered" | "failed" | "cancelled";
  status?: number;
}

/** A WebSocket that ended: who ended it, how, and the AORs registered over it. */
export interface WsClosed {
  id: string;
  transport: "ws" | "wss";
  remote: { host: string; port: number };
  code: number;
  reason: string;
  by: "client" | "server" | "admin";
  aors: string[];
}

/** One dialog as the API and dashboard show it (RFC 3261 §12 state plus both legs). */
export interface DialogView {
  callId: string;
  from: string;
  to: string;
  state: "early" | "confirmed" | "terminated";
  caller: { transport: string; remote: string };
  callee?: { transport: string; remote: string };
  startedAt: number;
  answeredAt?: number;
  endedAt?: number;
  /** Who holds the dialog: the proxy passes it on; sipws placed or holds API calls itself. */
  kind?: "proxied" | "originated" | "held";
  /** API calls: the detailed state (calling, held, ringing, answered, confirmed, ended). */
  callState?: string;
  /** API calls: one entry per INVITE sent (forking) or the held INVITE. */
  legs?: CallLegView[];
  /** API calls: the events reported to the control server so far. */
  events?: Omit<CallEvent, "sdp">[];
  /** In a cluster: the node whose view of the dialog this is. */
  node?: string;
}

/** One ban of a source address by the abuse guard. */
export interface BanView {
  address: string;
  /** Epoch ms. */
  since: number;
  until: number;
  /** `auth_failures`: too many failures; `accounts_scanned`: too many distinct accounts. */
  reason: "auth_failures" | "accounts_scanned";
  failures: number;
  /** Accounts (`user@realm`) that failed. */
  accounts: string[];
  /** Realms (domains) the failures were for: whose control servers hear of the ban. */
  realms: string[];
  /** 1 for a first ban; each repeat within a day doubles its time. */
  repeat: number;
}

export type SipwsEvent =
  | { type: "registration.added"; binding: BindingView }
  | { type: "registration.refreshed"; binding: BindingView }
  | {
    type: "registration.removed";
    binding: BindingView;
    cause: "unregistered" | "expired" | "flow_closed" | "ping_failed" | "admin";
  }
  | { type: "flow.opened"; flow: Flow }
  | { type: "flow.closed"; flow: Flow }
  | { type: "ws.closed"; closed: WsClosed }
  | { type: "auth.failed"; realm: string; user?: string; cause: string }
  | { type: "address.banned"; ban: BanView }
  | { type: "dialog.changed"; callId: string; state: string }
  | { type: "call.event"; callId: string; domain: string; control?: string; event: CallEvent }
  | { type: "server.started" }
  | { type: "server.stopped" };

type Handler<T> = (event: T) => void;
type EventOf<K extends SipwsEvent["type"]> = Extract<SipwsEvent, { type: K }>;

export class EventBus {
  #handlers = new Map<string, Handler<SipwsEvent>[]>();

  on<K extends SipwsEvent["type"]>(type: K, handler: Handler<EventOf<K>>): () => void {
    const list = this.#handlers.get(type) ?? [];
    list.push(handler as Handler<SipwsEvent>);
    this.#handlers.set(type, list);
    return () => {
      const at = list.indexOf(handler as Handler<SipwsEvent>);
      if (at >= 0) list.splice(at, 1);
    };
  }

  /** True when someone listens to `type`: a publisher may skip building the event. */
  has(type: SipwsEvent["type"]): boolean {
    const list = this.#handlers.get(type);
    return list !== undefined && list.length > 0;
  }

  emit(event: SipwsEvent): void {
    const list = this.#handlers.get(event.type);
    if (!list) return;
    for (const handler of list) {
      try {
        handler(event);
      } catch (error) {
        console.error(`event handler for ${event.type} failed:`, error);
      }
    }
  }
}

/**
 * Monotonic counters keyed by metric name and labels, e.g.
 * `inc("sip_messages_in_total", {transport: "udp", method: "REGISTER"})`.
 */
interface CounterEntry {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** One step of the counter index: a label name or value leads to the next. */
interface CounterNode {
  entry?: CounterEntry;
  next?: Map<string, CounterNode>;
}

function step(node: CounterNode, key: string): CounterNode {
  const next = node.next ??= new Map();
  let child = next.get(key);
  if (!child) next.set(key, child = {});
  return child;
}

export class Counters {
  /**
   * name → label name → label value → … → entry: inc() walks short interned strings
   * instead of building a key string per message.
   */
  #index = new Map<string, CounterNode>();
  #entries: CounterEntry[] = [];
  /** Called at the next change, then forgotten (`nextChange`). */
  #waiting?: () => void;

  inc(name: string, labels: Record<string, string> = {}, by = 1): void {
    this.entry(name, labels).value += by;
    this.changed();
  }

  /** Says a live `entry` was added to (`inc` says it itself). */
  changed(): void {
    const waiting = this.#waiting;
    if (waiting === undefined) return;
    this.#waiting = undefined;
    waiting();
  }

  /**
   * Calls `callback` once, at the next change: a worker's counter report sleeps until then
   * instead of waking an idle thread to find nothing changed (workers/port.ts).
   */
  nextChange(callback: () => void): void {
    this.#waiting = callback;
  }

  /**
   * The live entry of one counter and label set (created at 0): a hot path that counts the
   * same set again and again keeps it and adds to `value`, without walking the index, then
   * calls `changed`.
   */
  entry(name: string, labels: Record<string, string> = {}): { value: number } {
    let node = this.#index.get(name);
    if (!node) this.#index.set(name, node = {});
    for (const k in labels) node = step(step(node, k), labels[k]);
    let entry = node.entry;
    if (!entry) this.#entries.push(entry = node.entry = { name, labels, value: 0 });
    return entry;
  }

  /** Sum of a counter over all label sets (or those matching `labels`). */
  total(name: string, labels: Record<string, string> = {}): number {
    let sum = 0;
    for (const e of this.#entries) {
      if (e.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => e.labels[k] === v)) sum += e.value;
    }
    return sum;
  }

  /** The live entries, in the order they were made (an entry keeps its index): read only. */
  get entries(): readonly Readonly<CounterEntry>[] {
    return this.#entries;
  }

  snapshot(): { name: string; labels: Record<string, string>; value: number }[] {
    return this.#entries.map((e) => ({ ...e, labels: { ...e.labels } }));
  }
}
