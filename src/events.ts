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
  | { type: "auth.failed"; realm: string; user?: string; cause: string }
  | { type: "dialog.changed"; callId: string; state: string }
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
export class Counters {
  #values = new Map<string, { name: string; labels: Record<string, string>; value: number }>();

  inc(name: string, labels: Record<string, string> = {}, by = 1): void {
    let key = name;
    for (const k in labels) key += `|${k}=${labels[k]}`;
    const entry = this.#values.get(key);
    if (entry) entry.value += by;
    else this.#values.set(key, { name, labels, value: by });
  }

  /** Sum of a counter over all label sets (or those matching `labels`). */
  total(name: string, labels: Record<string, string> = {}): number {
    let sum = 0;
    for (const e of this.#values.values()) {
      if (e.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => e.labels[k] === v)) sum += e.value;
    }
    return sum;
  }

  snapshot(): { name: string; labels: Record<string, string>; value: number }[] {
    return [...this.#values.values()].map((e) => ({ ...e, labels: { ...e.labels } }));
  }
}
