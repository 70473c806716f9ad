/**
 * @module Write-behind persistence of the location service (registrations survive a
 * restart): every change is queued in memory and written to the `BindingStore` in one
 * batch at most `intervalMs` after it (default 1 s) and at stop, never on the REGISTER's
 * path. A kill -9 loses at most the changes of that last interval. At start it restores
 * the bindings that can still be reached without their old connection: UDP, and TCP/TLS
 * whose Contact is an address; flow-bound ones (WS/WSS, `.invalid`, Outbound) are not,
 * their connections died with the process.
 */
import { Logger } from "../log.ts";
import { parseUri } from "../sip/uri.ts";
import type { BindingStore, StoredBinding } from "../store/binding_store.ts";
import { type Binding, contactFields, type LocationStore } from "./binding.ts";

const log = new Logger("registrations");

export function toStored(b: Binding): StoredBinding {
  const stored: StoredBinding = {
    aor: b.aor,
    key: b.key,
    domain: b.domain,
    user: b.user,
    contact: b.contact,
    contactParams: b.contactParams,
    // A flow is a plain record (a reference to a connection): a copy is the stored form.
    flow: { ...b.flow, local: { ...b.flow.local }, remote: { ...b.flow.remote } },
    callId: b.callId,
    cseq: b.cseq,
    expiresAt: b.expiresAt,
    registeredAt: b.registeredAt,
    path: b.path,
  };
  // Absent, not undefined: the record reads back from JSON exactly as it was written.
  if (b.instance !== undefined) stored.instance = b.instance;
  if (b.regId !== undefined) stored.regId = b.regId;
  if (b.userAgent !== undefined) stored.userAgent = b.userAgent;
  return stored;
}

/** The binding to put back after a restart, or undefined when only its old flow reached it. */
export function restorable(s: StoredBinding): Binding | undefined {
  if (s.instance !== undefined && s.regId !== undefined) return undefined; // Outbound
  if (s.flow.transport !== "udp" && s.flow.transport !== "tcp" && s.flow.transport !== "tls") {
    return undefined;
  }
  let contact;
  try {
    contact = contactFields(s.contact, parseUri(s.contact), s);
  } catch {
    return undefined;
  }
  if (!contact.contactAddress || contact.key !== s.key) return undefined;
  // The flow keeps its id: ids are unique across processes (they name their owner), so no
  // connection of this run has it, and routing reaches the binding by its Contact.
  return { ...s, ...contact, outstandingPings: 0 };
}

/** A queued change: the binding to write, or a removal. */
type Change = Binding | { aor: string; key: string; removed: true };

export class BindingJournal {
  #store: BindingStore;
  #location: LocationStore;
  /**
   * AOR → binding key → the binding to write, or a removal. Only the latest change counts,
   * and it is turned into its stored form at flush time: once per binding and batch, not
   * once per REGISTER (a phone refreshing every second costs one conversion a batch). Two
   * levels, not one joined key: the location has already hashed both strings.
   */
  #pending = new Map<string, Map<string, Change>>();
  #pendingCount = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #unobserve: (() => void) | undefined;
  #writing: Promise<void> = Promise.resolve();

  constructor(store: BindingStore, location: LocationStore) {
    this.#store = store;
    this.#location = location;
  }

  /** Puts back what can still be reached; returns how many bindings were restored. */
  async restore(now = Date.now()): Promise<number> {
    let restored = 0;
    const dropped: { aor: string; key: string }[] = [];
    let stored: StoredBinding[];
    try {
      stored = await this.#store.load(now);
    } catch (error) {
      // Registrations are soft state: start empty and let the phones register again.
      log.error(`registrations not restored: ${String(error)}`);
      return 0;
    }
    for (const record of stored) {
      const binding = restorable(record);
      if (binding) {
        this.#location.restore(binding);
        restored++;
      } else dropped.push({ aor: record.aor, key: record.key });
    }
    if (dropped.length > 0) await this.#store.apply({ put: [], remove: dropped });
    if (restored + dropped.length > 0) {
      log.info(`restored ${restored} registrations, dropped ${dropped.length} flow-bound ones`);
    }
    return restored;
  }

  /** Starts queueing every change and writing a batch every `intervalMs`. */
  start(intervalMs = 1000): void {
    this.#unobserve = this.#location.observe((binding, change) => {
      this.#queue(
        change === "saved" ? binding : { aor: binding.aor, key: binding.key, removed: true },
        true,
      );
    });
    this.#timer = setInterval(() => this.flush(), intervalMs);
  }

  /** Writes what is queued as one batch (after the previous batch is written). */
  flush(): Promise<void> {
    this.#writing = this.#writing.then(async () => {
      if (this.#pendingCount === 0) return;
      const batch: Change[] = [];
      for (const changes of this.#pending.values()) for (const c of changes.values()) batch.push(c);
      this.#pending.clear();
      this.#pendingCount = 0;
      const put: StoredBinding[] = [];
      const remove: { aor: string; key: string }[] = [];
      for (const change of batch) {
        if ("removed" in change) remove.push({ aor: change.aor, key: change.key });
        else put.push(toStored(change));
      }
      try {
        await this.#store.apply({ put, remove });
      } catch (error) {
        log.error(`registrations not saved (${batch.length} changes), retrying: ${String(error)}`);
        // Back in the queue unless a newer change to the same binding came meanwhile.
        for (const change of batch) this.#queue(change, false);
      }
    });
    return this.#writing;
  }

  /** Queues a change; `replace`: over one already queued for the same binding. */
  #queue(change: Change, replace: boolean): void {
    let changes = this.#pending.get(change.aor);
    if (changes === undefined) this.#pending.set(change.aor, changes = new Map());
    const had = changes.has(change.key);
    if (had && !replace) return;
    changes.set(change.key, change);
    if (!had) this.#pendingCount++;
  }

  /**
   * Stops observing first (so connections closed by the shutdown do not erase their
   * bindings), then writes the last batch and closes the store.
   */
  async close(): Promise<void> {
    this.#unobserve?.();
    clearInterval(this.#timer);
    await this.flush();
    this.#store.close();
  }
}
