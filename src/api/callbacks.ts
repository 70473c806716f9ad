/**
 * @module Control-server callbacks (mediaswitch directory API): for a domain whose directory entry has a
 * `control` URL, `PUT {control}/reg/{domain}/{user}` with `{host, port, agent}` when the
 * user becomes registered (or its announced contact changes), and `DELETE` on the same URL
 * when its last binding goes (unregistration, expiry, closed connection, failed pings,
 * admin). Changes are reconciled per AOR after the event burst settles, sent off the SIP
 * path (never awaited by a publisher), one at a time per AOR so a PUT never overtakes the
 * DELETE before it, retried with exponential backoff (`config.callbacks`), and counted in
 * `callbacks_total{method,result}` and `callbacks_retries_total{method}`. Each request is
 * signed (callback_signature.ts) with the domain's secret, else the global one. A callback
 * that fails its last attempt is kept in a bounded list (oldest dropped first) that the API
 * shows and can send again; a later delivery for the same user supersedes it. When a
 * WebSocket closes, each domain with AORs bound on it gets `POST {control}/ws/closed` with the
 * `ws.closed` event (its own AORs only). When the abuse guard bans an address for failures
 * on a domain with a control URL, that server gets `PUT {control}/ban/{address}` with
 * `{address, since, until, reason, failures, accounts}` (same queue, signing and retries).
 */
import type { BanView, BindingView, WsClosed } from "../events.ts";
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

/** One HTTP request to a control server. */
interface CallbackRequest {
  method: "PUT" | "DELETE" | "POST";
  url: string;
  domain: string;
  /** The user of a `/reg` callback. */
  user?: string;
  /** JSON body (PUT, POST). */
  body?: string;
}

/** A callback that failed its last attempt, as `GET /callbacks/failed` lists it. */
export interface FailedCallback extends CallbackRequest {
  id: number;
  attempts: number;
  error: string;
  /** Unix milliseconds of the last attempt. */
  failedAt: number;
}

interface Failure {
  view: FailedCallback;
  /** The queue it went through (an AOR, or a connection id). */
  queue: string;
}

/** The mediaswitch `/reg` callback announcing (PUT) or withdrawing (DELETE) a registration. */
function regRequest(method: "PUT" | "DELETE", a: Announced): CallbackRequest {
  const url = `${a.control}/reg/${encodeURIComponent(a.domain)}/${encodeURIComponent(a.user)}`;
  const body = method === "PUT"
    ? JSON.stringify({ host: a.host, port: a.port, agent: a.agent })
    : undefined;
  return { method, url, domain: a.domain, user: a.user, body };
}

export class ControlCallbacks implements CallbackStats {
  #server: ApiServer;
  #fetch: typeof fetch;
  #announced = new Map<string, Announced>();
  #dirty = new Map<string, { domain: string; user: string; foreign?: BindingView }>();
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
      server.events.on("ws.closed", (e) => this.#wsClosed(e.closed)),
      server.events.on("address.banned", (e) => this.#banned(e.ban)),
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
    const { method, url, domain, user, body } = failure.view;
    this.#enqueue(failure.queue, { method, url, domain, user, body });
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
    // A binding of another node that this node removes (it took over after that node
    // died) was announced there: its DELETE is sent from here, once cluster-wide.
    const foreign = binding.node === undefined ? undefined : binding;
    this.#dirty.set(binding.aor, { domain: binding.domain, user: binding.user, foreign });
    if (this.#scheduled) return;
    this.#scheduled = true;
    // Reconcile after the current burst (a removal inside lookup() emits re-entrantly).
    queueMicrotask(() => {
      this.#scheduled = false;
      const dirty = [...this.#dirty];
      this.#dirty.clear();
      for (const [aor, { domain, user, foreign }] of dirty) {
        this.#reconcile(aor, domain, user, foreign);
      }
    });
  }

  #reconcile(aor: string, domain: string, user: string, foreign?: BindingView): void {
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
      this.#enqueue(aor, regRequest("PUT", next));
    } else if (previous) {
      this.#announced.delete(aor);
      this.#enqueue(aor, regRequest("DELETE", previous));
    } else if (foreign && server.registrations.lookup(aor).length === 0) {
      const entry = server.store.getDomain(domain);
      if (!entry?.control) return;
      this.#enqueue(
        aor,
        regRequest("DELETE", {
          control: entry.control,
          domain: entry.domain,
          user,
          host: foreign.flow.remote.host,
          port: foreign.flow.remote.port,
          agent: foreign.userAgent ?? "",
        }),
      );
    }
  }

  /** One PUT per control server whose domain's accounts the banned address failed on. */
  #banned(ban: BanView): void {
    if (this.#abort.signal.aborted) return;
    const sent = new Set<string>();
    for (const realm of ban.realms) {
      const entry = this.#server.store.getDomain(realm);
      if (!entry?.control || sent.has(entry.control)) continue;
      sent.add(entry.control);
      const { address, since, until, reason, failures } = ban;
      const accounts = ban.accounts.filter((a) => a.endsWith(`@${realm}`));
      this.#enqueue(`ban ${address}`, {
        method: "PUT",
        url: `${entry.control}/ban/${encodeURIComponent(address)}`,
        domain: entry.domain,
        body: JSON.stringify({ address, since, until, reason, failures, accounts }),
      });
    }
  }

  /**
   * `POST {control}/ws/closed` to each domain with AORs bound on the closed connection,
   * naming only that domain's AORs.
   */
  #wsClosed(closed: WsClosed): void {
    if (this.#abort.signal.aborted) return;
    const byDomain = new Map<string, string[]>();
    for (const aor of closed.aors) {
      const domain = aor.slice(aor.lastIndexOf("@") + 1);
      byDomain.set(domain, [...byDomain.get(domain) ?? [], aor]);
    }
    for (const [domain, aors] of byDomain) {
      const control = this.#server.store.getDomain(domain)?.control;
      if (!control) continue;
      this.#enqueue(closed.id, {
        method: "POST",
        url: `${control}/ws/closed`,
        domain,
        body: JSON.stringify({ ...closed, domain, aors }),
      });
    }
  }

  #enqueue(queue: string, request: CallbackRequest): void {
    this.#pending++;
    const previous = this.#tails.get(queue) ?? Promise.resolve();
    const tail = previous.then(() => this.#deliver(queue, request)).finally(() => {
      this.#pending--;
      if (this.#tails.get(queue) === tail) this.#tails.delete(queue);
    });
    this.#tails.set(queue, tail);
  }

  async #deliver(queue: string, request: CallbackRequest): Promise<void> {
    const { method, url, body } = request;
    const server = this.#server;
    const result = await deliver({
      fetch: this.#fetch,
      policy: server.config.callbacks,
      counters: server.counters,
      signal: this.#abort.signal,
      method,
      url,
      body,
      headers: () => signatureHeaders(this.#secretOf(request.domain), method, url, body ?? ""),
    });
    if (!result) return;
    if (result.delivered) {
      this.#supersede(queue);
      return;
    }
    this.#keepFailure(queue, { ...request, attempts: result.attempts, error: result.error });
  }

  /** The domain entry's secret wins over `[callbacks] secret`. */
  #secretOf(domain: string): string | undefined {
    return this.#server.store.getDomain(domain)?.secret || this.#server.config.callbacks.secret;
  }

  #keepFailure(queue: string, view: Omit<FailedCallback, "id" | "failedAt">) {
    const limit = this.#server.config.callbacks.failedKept;
    if (limit === 0) return;
    const id = this.#nextFailureId++;
    for (const key of Object.keys(view) as (keyof typeof view)[]) {
      if (view[key] === undefined) delete view[key];
    }
    this.#failed.set(id, { queue, view: { id, ...view, failedAt: Date.now() } });
    // Map order is insertion order: the first key is the oldest failure.
    while (this.#failed.size > limit) this.#failed.delete(this.#failed.keys().next().value!);
  }

  /** A delivery for `queue` (an AOR) makes its older failures stale: sending it would undo it. */
  #supersede(queue: string): void {
    for (const [id, failure] of this.#failed) if (failure.queue === queue) this.#failed.delete(id);
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
