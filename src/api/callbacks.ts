/**
 * @module Control-server callbacks (seed 001): for a domain whose directory entry has a
 * `control` URL, `PUT {control}/reg/{domain}/{user}` with `{host, port, agent}` when the
 * user becomes registered (or its announced contact changes), and `DELETE` on the same URL
 * when its last binding goes (unregistration, expiry, closed connection, failed pings,
 * admin). Changes are reconciled per AOR after the event burst settles, sent off the SIP
 * path (never awaited by a publisher), one at a time per AOR so a PUT never overtakes the
 * DELETE before it, retried with exponential backoff (`config.callbacks`), and counted in
 * `callbacks_total{method,result}` and `callbacks_retries_total{method}`. Each request is
 * signed (callback_signature.ts) with the domain's secret, else the global one. A callback
 * that fails its last attempt is kept in a bounded list (oldest dropped first) that the API
 * shows and can send again; a later delivery for the same user supersedes it.
 */
import type { BindingView } from "../events.ts";
import type { ApiServer, CallbackStats } from "./app.ts";
import { signatureHeaders } from "./callback_signature.ts";
import { deliver } from "./delivery.ts";

export interface CallbackOptions {
  /** Replaces `fetch` (tests). */
  fetch?: typeof fetch;
}

interface Announced {
  control: string;
  domain: string;
  user: string;
  host: string;
  port: number;
  agent: string;
}

/** A callback that failed its last attempt, as `GET /callbacks/failed` lists it. */
export interface FailedCallback {
  id: number;
  method: "PUT" | "DELETE";
  url: string;
  domain: string;
  user: string;
  /** The JSON body of a PUT. */
  body?: string;
  attempts: number;
  error: string;
  /** Unix milliseconds of the last attempt. */
  failedAt: number;
}

interface Failure {
  view: FailedCallback;
  aor: string;
  announced: Announced;
}

export class ControlCallbacks implements CallbackStats {
  #server: ApiServer;
  #fetch: typeof fetch;
  #announced = new Map<string, Announced>();
  #dirty = new Map<string, { domain: string; user: string }>();
  #tails = new Map<string, Promise<void>>();
  #pending = 0;
  #abort = new AbortController();
  #unsubscribe: (() => void)[] = [];
  #scheduled = false;
  #failed = new Map<number, Failure>();
  #nextFailureId = 1;

  constructor(server: ApiServer, options: CallbackOptions = {}) {
    this.#server = server;
    this.#fetch = options.fetch ?? fetch;
    const touch = (e: { binding: BindingView }) => this.#touch(e.binding);
    this.#unsubscribe.push(
      server.events.on("registration.added", touch),
      server.events.on("registration.refreshed", touch),
      server.events.on("registration.removed", touch),
    );
  }

  /** Callbacks queued or being retried. */
  pending(): number {
    return this.#pending;
  }

  /** Callbacks that failed their last attempt, oldest first. */
  failed(): FailedCallback[] {
    return [...this.#failed.values()].map((f) => f.view);
  }

  /** Sends a failed callback again (through its user's queue); false when `id` is unknown. */
  retry(id: number): boolean {
    const failure = this.#failed.get(id);
    if (!failure) return false;
    this.#failed.delete(id);
    this.#enqueue(failure.aor, failure.view.method, failure.announced);
    return true;
  }

  /** Resolves once every queued callback has been delivered or dropped (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#scheduled || this.#tails.size > 0) {
      await Promise.all([...this.#tails.values()]);
      await Promise.resolve();
    }
  }

  close(): void {
    for (const off of this.#unsubscribe) off();
    this.#unsubscribe = [];
    this.#abort.abort();
  }

  #touch(binding: BindingView): void {
    if (this.#abort.signal.aborted) return;
    this.#dirty.set(binding.aor, { domain: binding.domain, user: binding.user });
    if (this.#scheduled) return;
    this.#scheduled = true;
    // Reconcile after the current burst (a removal inside lookup() emits re-entrantly).
    queueMicrotask(() => {
      this.#scheduled = false;
      const dirty = [...this.#dirty];
      this.#dirty.clear();
      for (const [aor, { domain, user }] of dirty) this.#reconcile(aor, domain, user);
    });
  }

  #reconcile(aor: string, domain: string, user: string): void {
    const server = this.#server;
    const live = server.location.lookup(aor)
      .sort((a, b) => b.registeredAt - a.registeredAt || b.expiresAt - a.expiresAt);
    const previous = this.#announced.get(aor);
    const b = live[0];
    if (b) {
      const control = server.store.getDomain(domain)?.control;
      if (!control) return;
      const entryDomain = server.store.getDomain(domain)!.domain;
      const next: Announced = {
        control,
        domain: entryDomain,
        user,
        host: b.flow.remote.host,
        port: b.flow.remote.port,
        agent: b.userAgent ?? "",
      };
      if (
        previous && previous.control === next.control && previous.host === next.host &&
        previous.port === next.port && previous.agent === next.agent
      ) return;
      this.#announced.set(aor, next);
      this.#enqueue(aor, "PUT", next);
    } else if (previous) {
      this.#announced.delete(aor);
      this.#enqueue(aor, "DELETE", previous);
    }
  }

  #enqueue(aor: string, method: "PUT" | "DELETE", a: Announced): void {
    this.#pending++;
    const previous = this.#tails.get(aor) ?? Promise.resolve();
    const tail = previous.then(() => this.#deliver(aor, method, a)).finally(() => {
      this.#pending--;
      if (this.#tails.get(aor) === tail) this.#tails.delete(aor);
    });
    this.#tails.set(aor, tail);
  }

  async #deliver(aor: string, method: "PUT" | "DELETE", a: Announced): Promise<void> {
    const url = `${a.control}/reg/${encodeURIComponent(a.domain)}/${encodeURIComponent(a.user)}`;
    const body = method === "PUT"
      ? JSON.stringify({ host: a.host, port: a.port, agent: a.agent })
      : undefined;
    const server = this.#server;
    const result = await deliver({
      fetch: this.#fetch,
      policy: server.config.callbacks,
      counters: server.counters,
      signal: this.#abort.signal,
      method,
      url,
      body,
      headers: () => signatureHeaders(this.#secretOf(a.domain), method, url, body ?? ""),
    });
    if (!result) return;
    if (result.delivered) {
      this.#supersede(aor);
      return;
    }
    this.#keepFailure(aor, a, {
      method,
      url,
      domain: a.domain,
      user: a.user,
      ...(body === undefined ? {} : { body }),
      attempts: result.attempts,
      error: result.error,
    });
  }

  /** The domain entry's secret wins over `[callbacks] secret`. */
  #secretOf(domain: string): string | undefined {
    return this.#server.store.getDomain(domain)?.secret || this.#server.config.callbacks.secret;
  }

  #keepFailure(aor: string, announced: Announced, view: Omit<FailedCallback, "id" | "failedAt">) {
    const limit = this.#server.config.callbacks.failedKept;
    if (limit === 0) return;
    const id = this.#nextFailureId++;
    this.#failed.set(id, { aor, announced, view: { id, ...view, failedAt: Date.now() } });
    // Map order is insertion order: the first key is the oldest failure.
    while (this.#failed.size > limit) this.#failed.delete(this.#failed.keys().next().value!);
  }

  /** A delivery for `aor` makes its older failures stale: sending them would undo it. */
  #supersede(aor: string): void {
    for (const [id, failure] of this.#failed) if (failure.aor === aor) this.#failed.delete(id);
  }
}

const running = new WeakMap<object, ControlCallbacks>();

/** Subscribes to registration events and starts sending callbacks (one dispatcher per server). */
export function startCallbacks(server: ApiServer, options: CallbackOptions = {}): ControlCallbacks {
  running.get(server)?.close();
  const callbacks = new ControlCallbacks(server, options);
  running.set(server, callbacks);
  return callbacks;
}

/** The dispatcher started for `server` (tests wait on its `idle()`). */
export function callbacksOf(server: ApiServer): ControlCallbacks | undefined {
  return running.get(server);
}
