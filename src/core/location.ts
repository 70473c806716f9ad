/**
 * @module The location service: AOR → bindings (RFC 3261 §10.3, RFC 5626, RFC 3327). It
 * stores and expires bindings and remembers the flow each was registered on; it knows
 * nothing of REGISTER syntax or authentication (that is the registrar's job).
 */
import type { BindingView, EventBus } from "../events.ts";
import type { SipUri } from "../sip/uri.ts";
import type { Flow } from "../transport/types.ts";

export interface Binding {
  aor: string;
  domain: string;
  user: string;
  /** The Contact URI as registered. */
  contact: string;
  contactUri: SipUri;
  /** Contact header parameters other than expires (e.g. +sip.instance, reg-id, q). */
  contactParams: string;
  flow: Flow;
  callId: string;
  cseq: number;
  expiresAt: number;
  registeredAt: number;
  instance?: string;
  regId?: number;
  /** RFC 3327 Path values, top first. */
  path: string[];
  userAgent?: string;
  outstandingPings: number;
}

export type RemovalCause = "unregistered" | "expired" | "flow_closed" | "ping_failed" | "admin";

/**
 * Told of every change to the table after it happened (persistence, replication): the
 * binding saved, or removed. It must not throw and must not block (queue, then write).
 */
export type LocationObserver = (binding: Binding, change: "saved" | "removed") => void;

/** RFC 5626 §6: with instance and reg-id the flow identity is the key, else the URI. */
export function bindingKey(b: Pick<Binding, "instance" | "regId" | "contactUri">): string {
  if (b.instance !== undefined && b.regId !== undefined) return `i:${b.instance}|${b.regId}`;
  const u = b.contactUri;
  const transport = (u.params.get("transport") ?? "udp")?.toLowerCase();
  return `u:${u.scheme}:${u.user ?? ""}@${u.host}:${u.port ?? ""};${transport}`;
}

/** A binding's expiry as it was when queued; stale once the binding is refreshed or gone. */
interface Expiry {
  at: number;
  binding: Binding;
}

const idEncoder = new TextEncoder();
const idDecoder = new TextDecoder("utf-8", { fatal: true });

/**
 * A stable, URL-safe id of a binding for the API and dashboard: base64url of
 * `aor NUL bindingKey`, so it survives refreshes and needs no table of its own.
 */
export function bindingId(b: Binding): string {
  let s = "";
  for (const byte of idEncoder.encode(`${b.aor}\0${bindingKey(b)}`)) s += String.fromCharCode(byte);
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

export class LocationService {
  #byAor = new Map<string, Map<string, Binding>>();
  #byFlow = new Map<string, Set<Binding>>();
  #events: EventBus;
  #now: () => number;
  #count = 0;
  /**
   * Min-heap of expiries, so a sweep looks only at what is due instead of every binding.
   * Entries of refreshed or removed bindings stay until popped (or a rebuild drops them).
   */
  #expiries: Expiry[] = [];
  #observers: LocationObserver[] = [];

  constructor(events: EventBus, now: () => number = Date.now) {
    this.#events = events;
    this.#now = now;
  }

  /** Live bindings of an AOR ("user@domain"), expired ones dropped on the way. */
  lookup(aor: string): Binding[] {
    const bindings = this.#byAor.get(aor);
    if (!bindings) return [];
    const now = this.#now();
    const live: Binding[] = [];
    for (const b of [...bindings.values()]) {
      if (b.expiresAt <= now) this.remove(b, "expired");
      else live.push(b);
    }
    return live;
  }

  get(aor: string, key: string): Binding | undefined {
    return this.#byAor.get(aor)?.get(key);
  }

  /** The live binding a `bindingId` names (undefined: malformed, unknown or expired). */
  byId(id: string): Binding | undefined {
    const parsed = parseBindingId(id);
    const binding = parsed && this.get(parsed.aor, parsed.key);
    return binding && binding.expiresAt > this.#now() ? binding : undefined;
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
    const previous = this.#put(binding);
    for (const observe of this.#observers) observe(binding, "saved");
    // The view is a copy per event: build it only when someone listens.
    const type = previous ? "registration.refreshed" : "registration.added";
    if (this.#events.has(type)) this.#events.emit({ type, binding: viewOf(binding) });
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
    const key = bindingKey(binding);
    const previous = bindings.get(key);
    if (previous) this.#unindexFlow(previous);
    else this.#count++;
    bindings.set(key, binding);
    this.#queueExpiry(binding);
    let onFlow = this.#byFlow.get(binding.flow.id);
    if (!onFlow) this.#byFlow.set(binding.flow.id, onFlow = new Set());
    onFlow.add(binding);
    return previous;
  }

  remove(binding: Binding, cause: RemovalCause): boolean {
    const bindings = this.#byAor.get(binding.aor);
    const key = bindingKey(binding);
    if (!bindings || bindings.get(key) !== binding) return false;
    bindings.delete(key);
    if (bindings.size === 0) this.#byAor.delete(binding.aor);
    this.#unindexFlow(binding);
    this.#count--;
    for (const observe of this.#observers) observe(binding, "removed");
    this.#events.emit({ type: "registration.removed", binding: viewOf(binding), cause });
    return true;
  }

  /** A connection closed: its bindings go at once, not at expiry. */
  removeFlow(flowId: string): number {
    const onFlow = this.#byFlow.get(flowId);
    if (!onFlow) return 0;
    let removed = 0;
    for (const b of [...onFlow]) if (this.remove(b, "flow_closed")) removed++;
    this.#byFlow.delete(flowId);
    return removed;
  }

  /** AORs bound on a flow (for the WS connections view). */
  aorsOnFlow(flowId: string): string[] {
    return [...new Set([...(this.#byFlow.get(flowId) ?? [])].map((b) => b.aor))];
  }

  /** Removes every expired binding; called by a periodic sweep. O(due · log n). */
  sweep(): number {
    const now = this.#now();
    let removed = 0;
    const heap = this.#expiries;
    while (heap.length > 0 && heap[0].at <= now) {
      const { at, binding } = heapPop(heap);
      if (binding.expiresAt !== at) {
        // The object's expiry moved after it was queued (bindings are replaced on refresh,
        // so this is defensive): remove it if due, else queue it again at its new time.
        if (binding.expiresAt <= now) {
          if (this.remove(binding, "expired")) removed++;
        } else heapPush(heap, { at: binding.expiresAt, binding });
        continue;
      }
      if (this.remove(binding, "expired")) removed++;
    }
    return removed;
  }

  #queueExpiry(binding: Binding): void {
    const heap = this.#expiries;
    // Refreshes leave stale entries behind; rebuild from live bindings when they dominate.
    if (heap.length >= 2 * this.#count + 1024) {
      heap.length = 0;
      for (const bindings of this.#byAor.values()) {
        for (const b of bindings.values()) heap.push({ at: b.expiresAt, binding: b });
      }
      heapify(heap);
      return; // `binding` is already in #byAor, so the rebuild queued it
    }
    heapPush(heap, { at: binding.expiresAt, binding });
  }

  all(): Binding[] {
    const out: Binding[] = [];
    for (const bindings of this.#byAor.values()) out.push(...bindings.values());
    return out;
  }

  get size(): number {
    return this.#count;
  }

  #unindexFlow(binding: Binding): void {
    const onFlow = this.#byFlow.get(binding.flow.id);
    if (!onFlow) return;
    onFlow.delete(binding);
    if (onFlow.size === 0) this.#byFlow.delete(binding.flow.id);
  }
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
