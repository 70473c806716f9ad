/**
 * @module The in-memory location store: AOR → bindings (RFC 3261 §10.3, RFC 5626, RFC
 * 3327). It stores and expires bindings, indexes them by flow and by `.invalid` contact,
 * and publishes registration events; it knows nothing of REGISTER syntax or
 * authentication (that is the registrar's job). Bindings are plain records (binding.ts).
 */
import type { BindingView, EventBus } from "../events.ts";
import { isInvalidHost } from "../transport/address.ts";
import {
  type Binding,
  contactIndexKey,
  type LocationChange,
  type LocationObserver,
  type LocationStore,
  type RemovalCause,
  sameRegistration,
} from "./binding.ts";

export type {
  Binding,
  BindingReader,
  LocationChange,
  LocationObserver,
  LocationStore,
  RemovalCause,
} from "./binding.ts";
export { bindingKey } from "./binding.ts";

/**
 * The slot of one AOR + binding key: the current binding (a refresh replaces it here) and
 * the earliest expiry queued for the slot. Expiry entries point at the slot, never at a
 * binding, so a refreshed binding is garbage at once instead of waiting in the heap.
 */
interface Slot {
  binding: Binding | undefined;
  due: number;
}

/** A time at which a slot is to be looked at; stale when `at` is no longer the slot's due. */
interface Expiry {
  at: number;
  slot: Slot;
}

const idEncoder = new TextEncoder();
const idDecoder = new TextDecoder("utf-8", { fatal: true });

/**
 * A stable, URL-safe id of a binding for the API and dashboard: base64url of
 * `aor NUL bindingKey`, so it survives refreshes and needs no table of its own.
 */
export function bindingId(b: Binding): string {
  let s = "";
  for (const byte of idEncoder.encode(`${b.aor}\0${b.key}`)) s += String.fromCharCode(byte);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The AOR and binding key an id names, or undefined when it is malformed. */
function parseBindingId(id: string): { aor: string; key: string } | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(id)) return undefined;
  try {
    const binary = atob(id.replace(/-/g, "+").replace(/_/g, "/"));
    const text = idDecoder.decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
    const at = text.indexOf("\0");
    return at < 0 ? undefined : { aor: text.slice(0, at), key: text.slice(at + 1) };
  } catch {
    return undefined;
  }
}

export class LocationService implements LocationStore {
  #byAor = new Map<string, Map<string, Slot>>();
  /** Flow id → keys ("aor NUL key") of the bindings registered on it. */
  #byFlow = new Map<string, Set<string>>();
  /** `.invalid` contact (user@host:port) → keys of its bindings (RFC 7118 §5.2 routing). */
  #byContact = new Map<string, Set<string>>();
  #events: EventBus;
  #now: () => number;
  #count = 0;
  /**
   * Min-heap of expiries, so a sweep looks only at what is due instead of every binding.
   * A refresh that moves the expiry later queues nothing: the sweep finds the slot due
   * early and queues it again at its binding's time. Entries of removed slots stay until
   * popped (or a rebuild drops them).
   */
  #expiries: Expiry[] = [];
  #observers: LocationObserver[] = [];

  constructor(events: EventBus, now: () => number = Date.now) {
    this.#events = events;
    this.#now = now;
  }

  /**
   * Called before every read: with several workers, the main thread first applies the
   * changes workers have sent, so a registration is routable here as soon as it was answered.
   */
  beforeRead?: () => void;

  lookup(aor: string): Binding[] {
    this.beforeRead?.();
    const bindings = this.#byAor.get(aor);
    if (!bindings) return [];
    const now = this.#now();
    // Sized up front: pushing onto [] reserves 17 slots, then grows again past them.
    const live: Binding[] = new Array(bindings.size);
    let n = 0;
    let expired: Binding[] | undefined;
    for (const slot of bindings.values()) {
      const b = slot.binding!;
      if (b.expiresAt > now) live[n++] = b;
      else (expired ??= []).push(b);
    }
    live.length = n;
    // Removed after the walk: removing changes the map being walked.
    if (expired) { for (const b of expired) this.remove(b, "expired"); }
    return live;
  }

  get(aor: string, key: string): Binding | undefined {
    this.beforeRead?.();
    return this.#byAor.get(aor)?.get(key)?.binding;
  }

  byId(id: string): Binding | undefined {
    const parsed = parseBindingId(id);
    const binding = parsed && this.get(parsed.aor, parsed.key);
    return binding && binding.expiresAt > this.#now() ? binding : undefined;
  }

  byContact(contact: { user?: string; host: string; port?: number }): Binding | undefined {
    this.beforeRead?.();
    const keys = this.#byContact.get(contactIndexKey(contact));
    if (!keys) return undefined;
    const now = this.#now();
    for (const k of keys) {
      const b = this.#byIndexKey(k);
      if (b && b.expiresAt > now) return b;
    }
    return undefined;
  }

  /** Adds an observer of every change; returns the function that removes it. */
  observe(observer: LocationObserver): () => void {
    this.#observers.push(observer);
    return () => {
      this.#observers = this.#observers.filter((o) => o !== observer);
    };
  }

  /** Adds or refreshes a binding (same key replaces). */
  save(binding: Binding): void {
    this.#save(binding, false, true);
  }

  #save(binding: Binding, replica: boolean, emit: boolean): void {
    const previous = this.#put(binding);
    for (const observe of this.#observers) observe(binding, "saved", replica);
    // The view is a copy per event: build it only when someone listens.
    const type = previous ? "registration.refreshed" : "registration.added";
    if (emit && this.#events.has(type)) this.#events.emit({ type, binding: viewOf(binding) });
  }

  /**
   * Applies a change another worker made to its copy. Observers see it as a replica;
   * `emit` is true on the one copy that speaks for the server (events, callbacks).
   */
  applyReplica(change: LocationChange, emit: boolean): void {
    if (change.op === "saved") return this.#save(change.binding, true, emit);
    const binding = this.get(change.aor, change.key);
    if (binding) this.#remove(binding, change.cause, true, emit);
  }

  /**
   * Puts back a binding kept across a restart: no event and no observer, since nothing
   * changed for the phone, the control server or the copy it came from.
   */
  restore(binding: Binding): void {
    if (binding.expiresAt > this.#now()) this.#put(binding);
  }

  #put(binding: Binding): Binding | undefined {
    let bindings = this.#byAor.get(binding.aor);
    if (!bindings) this.#byAor.set(binding.aor, bindings = new Map());
    let slot = bindings.get(binding.key);
    const previous = slot?.binding;
    // A refresh on the same flow and contact (the usual REGISTER) keeps its index entries.
    const reindex = !previous || !sameIndexEntries(previous, binding);
    if (!previous) this.#count++;
    else if (reindex) this.#unindex(previous);
    if (slot) slot.binding = binding;
    else bindings.set(binding.key, slot = { binding, due: Infinity });
    if (binding.expiresAt < slot.due) this.#queueExpiry(slot, binding.expiresAt);
    if (reindex) this.#index(binding);
    return previous;
  }

  setOutstandingPings(binding: Binding, misses: number): Binding | undefined {
    const slot = this.#byAor.get(binding.aor)?.get(binding.key);
    const current = slot?.binding;
    if (!slot || !current || !sameRegistration(current, binding)) return undefined;
    const updated = { ...current, outstandingPings: misses };
    slot.binding = updated;
    return updated;
  }

  remove(binding: Binding, cause: RemovalCause): boolean {
    return this.#remove(binding, cause, false, true);
  }

  /**
   * Another node of the cluster took this registration over (the phone registered there
   * since): it goes from here telling no one, the new owner speaks for it.
   */
  forget(binding: Binding): boolean {
    return this.#drop(binding) !== undefined;
  }

  #drop(binding: Binding): Binding | undefined {
    const bindings = this.#byAor.get(binding.aor);
    const slot = bindings?.get(binding.key);
    const current = slot?.binding;
    if (!bindings || !slot || !current || !sameRegistration(current, binding)) return undefined;
    bindings.delete(current.key);
    slot.binding = undefined;
    if (bindings.size === 0) this.#byAor.delete(current.aor);
    this.#unindex(current);
    this.#count--;
    return current;
  }

  #remove(binding: Binding, cause: RemovalCause, replica: boolean, emit: boolean): boolean {
    const current = this.#drop(binding);
    if (!current) return false;
    for (const observe of this.#observers) observe(current, "removed", replica, cause);
    if (emit) this.#events.emit({ type: "registration.removed", binding: viewOf(current), cause });
    return true;
  }

  removeFlow(flowId: string, goes: (b: Binding) => boolean = () => true): number {
    const onFlow = this.#byFlow.get(flowId);
    if (!onFlow) return 0;
    let removed = 0;
    for (const k of [...onFlow]) {
      const b = this.#byIndexKey(k);
      if (b && goes(b) && this.remove(b, "flow_closed")) removed++;
    }
    this.#byFlow.delete(flowId);
    return removed;
  }

  aorsOnFlow(flowId: string): string[] {
    this.beforeRead?.();
    const aors = new Set<string>();
    for (const k of this.#byFlow.get(flowId) ?? []) aors.add(k.slice(0, k.indexOf("\0")));
    return [...aors];
  }

  /** O(due · log n): a heap of expiries, not a scan of every binding. */
  sweep(): number {
    const now = this.#now();
    let removed = 0;
    const heap = this.#expiries;
    while (heap.length > 0 && heap[0].at <= now) {
      const { at, slot } = heapPop(heap);
      const binding = slot.binding;
      // Stale entry: the slot was emptied, or queued again at another time since.
      if (binding === undefined || at !== slot.due) continue;
      if (binding.expiresAt <= now) {
        slot.due = Infinity;
        if (this.remove(binding, "expired")) removed++;
      } else this.#queueExpiry(slot, binding.expiresAt); // refreshed since it was queued
    }
    return removed;
  }

  #queueExpiry(slot: Slot, at: number): void {
    slot.due = at;
    const heap = this.#expiries;
    // Removals leave stale entries behind; rebuild from the live slots when they dominate.
    if (heap.length >= 2 * this.#count + 1024) {
      heap.length = 0;
      for (const bindings of this.#byAor.values()) {
        for (const live of bindings.values()) heap.push({ at: live.due, slot: live });
      }
      heapify(heap);
      return; // `slot` is already in #byAor, so the rebuild queued it
    }
    heapPush(heap, { at, slot });
  }

  all(): Binding[] {
    this.beforeRead?.();
    const out: Binding[] = [];
    for (const bindings of this.#byAor.values()) {
      for (const slot of bindings.values()) out.push(slot.binding!);
    }
    return out;
  }

  get size(): number {
    this.beforeRead?.();
    return this.#count;
  }

  #byIndexKey(indexKey: string): Binding | undefined {
    const at = indexKey.indexOf("\0");
    return this.#byAor.get(indexKey.slice(0, at))?.get(indexKey.slice(at + 1))?.binding;
  }

  #index(b: Binding): void {
    const k = `${b.aor}\0${b.key}`;
    addTo(this.#byFlow, b.flow.id, k);
    if (isInvalidHost(b.contactHost)) addTo(this.#byContact, contactIndexKey(contactOf(b)), k);
  }

  #unindex(b: Binding): void {
    const k = `${b.aor}\0${b.key}`;
    deleteFrom(this.#byFlow, b.flow.id, k);
    if (isInvalidHost(b.contactHost)) {
      deleteFrom(this.#byContact, contactIndexKey(contactOf(b)), k);
    }
  }
}

/** The index keys of two bindings of one AOR and key are the same (flow and contact). */
function sameIndexEntries(a: Binding, b: Binding): boolean {
  return a.flow.id === b.flow.id && a.contactHost === b.contactHost &&
    a.contactUser === b.contactUser && a.contactPort === b.contactPort;
}

function contactOf(b: Binding): { user?: string; host: string; port?: number } {
  return { user: b.contactUser, host: b.contactHost, port: b.contactPort };
}

function addTo(index: Map<string, Set<string>>, at: string, key: string): void {
  let set = index.get(at);
  if (!set) index.set(at, set = new Set());
  set.add(key);
}

function deleteFrom(index: Map<string, Set<string>>, at: string, key: string): void {
  const set = index.get(at);
  if (!set) return;
  set.delete(key);
  if (set.size === 0) index.delete(at);
}

function heapPush(heap: Expiry[], e: Expiry): void {
  let i = heap.push(e) - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent].at <= e.at) break;
    heap[i] = heap[parent];
    i = parent;
  }
  heap[i] = e;
}

function heapPop(heap: Expiry[]): Expiry {
  const top = heap[0];
  const last = heap.pop()!;
  if (heap.length > 0) {
    heap[0] = last;
    siftDown(heap, 0);
  }
  return top;
}

function siftDown(heap: Expiry[], i: number): void {
  const n = heap.length;
  const e = heap[i];
  for (;;) {
    let child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && heap[child + 1].at < heap[child].at) child++;
    if (heap[child].at >= e.at) break;
    heap[i] = heap[child];
    i = child;
  }
  heap[i] = e;
}

function heapify(heap: Expiry[]): void {
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) siftDown(heap, i);
}

export function viewOf(b: Binding): BindingView {
  return {
    aor: b.aor,
    domain: b.domain,
    user: b.user,
    contact: b.contact,
    flow: b.flow,
    userAgent: b.userAgent,
    expiresAt: b.expiresAt,
    registeredAt: b.registeredAt,
    instance: b.instance,
    regId: b.regId,
    outstandingPings: b.outstandingPings,
  };
}
