/**
 * @module The main thread's side of the SIP workers: it starts worker threads 1..N-1 (the
 * main thread is worker 0), hands them the datagrams of their calls, keeps every copy of the location table in step, adds the workers' counters and
 * events to the main thread's, so the API, dashboard and callbacks see one server, and
 * drains them all on stop. Why threads and this split: docs/workers.md.
 */
import type { Config } from "../config/config.ts";
import type { LocationService } from "../core/location.ts";
import type { ClusterNode } from "../core/cluster_node.ts";
import type { DialogTracker } from "../core/dialogs.ts";
import type { Counters, EventBus } from "../events.ts";
import { Logger } from "../log.ts";
import type { AccountStore } from "../store/account.ts";
import type { TransportLayer } from "../transport/layer.ts";
import type { AbuseGuard } from "../transport/abuse_guard.ts";
import type { WorkerLinks } from "../transport/worker_links.ts";
import type { Flow } from "../transport/types.ts";
import type { CallAction, CallControl } from "../core/calls/call_control.ts";
import { CallError } from "../core/calls/types.ts";
import type { InboundInfo } from "../core/calls/inbound_offer.ts";
import { Mirrors } from "./mirror.ts";
import { type LocationRecord, packChange, RecordMemory, unpackChange } from "./location_record.ts";
import { readLoop, RingReader, type RingRecord, RingWriter } from "./ring.ts";
import { FlowRefsIn, FlowRefsOut } from "./flow_refs.ts";
import { callIdValueHash, callOwner } from "../sip/call_id_hash.ts";
import { udpDescriptor } from "../transport/socket_options.ts";
import { closeSockets, reusePortSockets } from "../transport/udp_reuseport.ts";
import type { TransportName } from "../transport/types.ts";
import { type CallRefusal, type FromWorker, type ToWorker, type WorkerSetup } from "./protocol.ts";

const log = new Logger("workers");

/** Longest wait for a worker to start (it loads and compiles the whole SIP stack). */
const START_TIMEOUT_MS = 30_000;
/** Longest main blocks for the workers to open their listeners (a slower one joins late). */
const LISTEN_BARRIER_MS = 1000;
/** A worker's answers to start, listen and stop, sent by `postMessage`, not its ring. */
type Lifecycle = { t: "ready" | "listening" | "failed" | "stopped" };
const LIFECYCLE = new Set<FromWorker["t"]>(["ready", "listening", "failed", "stopped"]);

/** Longest wait for the workers' figures before the API answers with what it has. */
const SYNC_TIMEOUT_MS = 1000;

/**
 * Longest wait for every worker to apply a change (a reload, an account write, an operator's
 * action): only a stuck worker takes this long; a loaded machine can take over a second.
 */
export const SETTLE_TIMEOUT_MS = 10_000;

export interface PoolContext {
  config: Config;
  transport: TransportLayer;
  location: LocationService;
  counters: Counters;
  events: EventBus;
  dialogs: DialogTracker;
  store: AccountStore;
  /** Main's abuse guard: the ban set every worker follows. */
  abuse: AbuseGuard;
  /** Main's call control: the API's `decide` answers workers' inbound calls. */
  calls: CallControl;
  /** Key material when none is configured, shared by every worker. */
  fallbackSecret: Uint8Array;
  /** The digest replay state every worker shares (nonce_counts.ts). */
  nonceCounts: SharedArrayBuffer;
  /** Per-source rate windows and connection counts every worker shares (source_table.ts). */
  sources?: SharedArrayBuffer;
  /** This node's part in a cluster: every worker keeps a copy of its view of the others. */
  cluster?: ClusterNode;
}

export class WorkerPool implements WorkerLinks {
  readonly index = 0;
  readonly count: number;
  #threads: Worker[] = [];
  /** Each worker thread's own UDP socket (worker i at i - 1); empty: they share main's. */
  #udpSockets: number[] = [];
  /** The channel to each worker thread (worker i at i - 1). */
  #rings: RingWriter<ToWorker>[] = [];
  /** Ends each loop reading a worker's ring (`readLoop`). */
  #stopReading: (() => void)[] = [];
  /** Each worker's ring back to this thread (worker i at i - 1). */
  #backs: RingReader<FromWorker>[] = [];
  /** The location records read from each worker (worker i at i - 1), for its refreshes. */
  #received: RecordMemory[] = [];
  /** The location records sent to each worker (worker i at i - 1). */
  #sent: RecordMemory[] = [];
  /** The flows relays to each worker named (worker i at i - 1; flow_refs.ts). */
  #flowRefsOut: FlowRefsOut[] = [];
  /** The flows the workers' relays to this thread named. */
  #flowRefsIn = new FlowRefsIn();
  /** True while draining: a read of the location table inside must not drain again. */
  #draining = false;
  #context?: PoolContext;
  #stopped: Promise<void>[] = [];
  /** Each worker's pending start or listen (worker i at i - 1), settled by its answer. */
  #awaiting: { resolve: () => void; reject: (e: Error) => void }[] = [];
  #unobserve?: () => void;
  #unobserveBans?: () => void;
  #unobserveCluster?: () => void;
  /** Call actions sent to workers, by request id, until they answer. */
  #calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #nextCall = 1;
  /** Syncs waiting for every worker's `synced`, by id. */
  #syncs = new Map<number, { waiting: number; done: () => void }>();
  #nextSync = 1;

  constructor(count: number) {
    this.count = count;
  }

  handOff(worker: number, bytes: Uint8Array, flow: Flow): void {
    const ring = this.#rings[worker - 1];
    if (flow.transport !== "udp") {
      this.#post(worker, this.#flowRefsOut[worker - 1].relay("sip", worker, bytes, flow));
    } else ring?.write({ kind: "datagram", host: flow.remote.host, port: flow.remote.port, bytes });
  }

  sendVia(worker: number, bytes: Uint8Array, flow: Flow): void {
    this.#post(worker, this.#flowRefsOut[worker - 1].relay("send", worker, bytes, flow));
  }

  behind(): boolean {
    return this.#rings.some((ring) => ring.backlogged);
  }

  /** Other workers' connections as the API and dashboard list them. */
  readonly #mirrors = new Mirrors({
    send: (worker, bytes, flow) => this.sendVia(worker, bytes, flow),
    control: (worker, id, op, close) => this.#post(worker, { t: "conn", id, op, close }),
  });

  announce(flow: Flow, open: boolean): void {
    this.#broadcast({ t: "flow", flow, open });
  }

  acceptingChanged(accepting: boolean): void {
    this.#broadcast({ t: "accepting", accepting });
  }

  webSocketsChanged(enabled: boolean): void {
    this.#broadcast({ t: "websockets", enabled });
  }

  #post(worker: number, message: ToWorker, wake = true): void {
    this.#rings[worker - 1]?.write({ kind: "message", message }, wake);
  }

  /**
   * A location change to every worker but `except`, without waking them (they apply it before
   * they read); a refresh as the fields it changed since the last record of its binding sent to
   * that worker (`RecordMemory`: main is the one writer of location records to a worker's ring).
   */
  #share(change: LocationRecord, except = 0): void {
    for (let w = 1; w < this.count; w++) {
      if (w !== except) {
        this.#post(w, { t: "binding", change: this.#sent[w - 1].pack(change) }, false);
      }
    }
  }

  /** `wake: false` for changes a worker needs only before it reads (ring.ts `LAZY_MS`). */
  #broadcast(message: ToWorker, except = 0, wake = true): void {
    for (let w = 1; w < this.count; w++) if (w !== except) this.#post(w, message, wake);
  }

  /** Applies the workers' reports before a message read here is handled. */
  catchUp(): void {
    this.drain();
  }

  /** Starts the worker threads; resolves when every one serves (rejects if one fails). */
  async start(context: PoolContext): Promise<void> {
    const { transport, calls } = context;
    // The API acts on a call where it is held: the worker its Call-ID hashes to.
    calls.elsewhere = (callId, action, args) => {
      const owner = callOwner(callIdValueHash(callId), this.count);
      return owner === 0 ? undefined : this.callAction(owner, action, args);
    };
    const shared = {
      fallbackSecret: context.fallbackSecret,
      node: transport.owner.node,
      udpSocket: sharedUdpSocket(transport),
      sources: context.sources,
      connectionCounter: transport.connectionCounter(),
      callSlots: calls.slots.buffer,
      nonceCounts: context.nonceCounts,
      // With one worker thread and no cluster, main's copy is the last of a change's stops:
      // its events (callbacks, the API's stream) may lag by up to LAZY_MS, and a thread
      // holding no connection then wakes ~3 times less per registration (docs/workers.md).
      bindingsWake: this.count > 2 || context.cluster !== undefined,
    };
    const config = boundConfig(context.config, transport);
    // A UDP socket of its own per worker thread on the SIP port, where it can be made.
    const udp = shared.udpSocket;
    this.#udpSockets = (udp && reusePortSockets(udp.fd, udp.local, this.count - 1)) ?? [];
    context.transport.mirrors = this.#mirrors;
    context.location.beforeRead = () => void this.drain();
    // A worker's dialog view may still be in its ring when its call's answer reached the
    // caller: a read of main's tracker applies the views first (the API syncs too).
    context.dialogs.beforeRead = () => void this.drain();
    this.#context = context;
    const { location, store } = context;
    // Changes made here (API, expiry, flows closing) reach every worker's copy.
    // A worker applies them before it reads its copy or handles a message it read, so
    // they need not wake it.
    this.#unobserve = location.observe((binding, change, replica, cause) => {
      if (replica) return;
      this.#share(packChange(binding, change, cause));
    });
    // Accounts are written here (API); each write is followed by a re-read in every worker,
    // ordered before any message relayed after it (one channel per worker keeps order), and
    // settles once every worker has re-read: whoever wrote may register through any worker.
    afterWrites(store, () => {
      this.#broadcast({ t: "accounts" });
      return this.sync(SETTLE_TIMEOUT_MS);
    });
    // Bans and account locks hold on every worker: main decides them (it counts every
    // worker's failures, see the "auth" message), and each change of its set (its bans and
    // locks, the cluster's bans, an operator's lift) goes to all workers.
    this.#unobserveBans = context.abuse.observe((change) =>
      this.#broadcast({ t: "abuse", change })
    );
    // The other nodes' bindings and heartbeats: each change of main's view goes to all.
    this.#unobserveCluster = context.cluster?.observe((change) =>
      this.#broadcast({ t: "cluster", change })
    );
    const ready: Promise<void>[] = [];
    // Every inbound ring first: each worker is given all of them (it writes to its peers).
    const peers: (SharedArrayBuffer | undefined)[] = [undefined];
    for (let index = 1; index < this.count; index++) {
      const { writer, buffer } = RingWriter.create<ToWorker>();
      this.#rings.push(writer);
      this.#sent.push(new RecordMemory());
      this.#flowRefsOut.push(new FlowRefsOut(0));
      peers.push(buffer);
    }
    for (let index = 1; index < this.count; index++) {
      const thread = new Worker(new URL("./worker_main.ts", import.meta.url), { type: "module" });
      this.#threads.push(thread);
      const ring = peers[index]!;
      const { buffer: back } = RingWriter.create<FromWorker>();
      const reader = new RingReader<FromWorker>(back);
      this.#backs.push(reader);
      this.#received.push(new RecordMemory());
      this.#stopReading.push(readLoop(reader, () => this.drain()));
      let stopped!: () => void;
      this.#stopped.push(new Promise((resolve) => stopped = resolve));
      ready.push(this.#answer(index, "start"));
      thread.onmessage = (e: MessageEvent<FromWorker>) => {
        const m = e.data;
        if (m.t === "ready" || m.t === "listening") this.#awaiting[index - 1].resolve();
        else if (m.t === "failed") {
          this.#awaiting[index - 1].reject(new Error(`worker ${index}: ${m.message}`));
        } else if (m.t === "stopped") stopped();
        else this.#receive(index, m);
      };
      thread.onerror = (e) => {
        e.preventDefault();
        log.error(`worker ${index} failed: ${e.message}`);
        this.#awaiting[index - 1].reject(new Error(`worker ${index}: ${e.message}`));
        stopped();
      };
      const own = this.#udpSockets[index - 1];
      const setup: WorkerSetup = {
        ...shared,
        udpSocket: own === undefined
          ? shared.udpSocket
          : { ...shared.udpSocket!, fd: own, read: true },
        index,
        count: this.count,
        bindings: location.all(),
        ring,
        peers,
        back,
        bans: context.abuse.bans(),
        cluster: context.cluster && [
          { op: "nodes", nodes: [...context.cluster.view.nodes] },
          { op: "replace", records: context.cluster.view.all() },
        ],
        flows: [
          ...context.transport.connections().map((c) => c.flow),
          ...context.transport.flowsElsewhere(),
        ],
      };
      thread.postMessage({ t: "init", setup, config } satisfies ToWorker);
    }
    await Promise.all(ready);
  }

  /**
   * Every worker opens its stream listeners (they join the ports' SO_REUSEPORT group once
   * all serve, see server.ts); resolves when all listen, rejects naming a port one cannot.
   * Returns once every worker tried (main opens its own right after), main waiting blocked:
   * nothing on main's thread connects while a listener is alone in its group, and others
   * have only main's wake-up to do so (main used to open first, and a burst of connections
   * made during the worker's wake-up on a loaded box all stayed on main).
   */
  listen(): Promise<void> {
    const tried = new Int32Array(new SharedArrayBuffer(4));
    const all = this.#threads.map((thread, i) => {
      const answer = this.#answer(i + 1, "listen");
      thread.postMessage({ t: "listen", tried: tried.buffer } satisfies ToWorker);
      return answer;
    });
    const deadline = Date.now() + LISTEN_BARRIER_MS;
    for (let n; (n = Atomics.load(tried, 0)) < all.length;) {
      const left = deadline - Date.now();
      if (left <= 0 || Atomics.wait(tried, 0, n, left) === "timed-out") break;
    }
    return Promise.all(all).then(() => {});
  }

  /** Worker `index`'s answer to a start or listen: "ready"/"listening", or "failed". */
  #answer(index: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`worker ${index} did not ${what}`)),
        START_TIMEOUT_MS,
      );
      this.#awaiting[index - 1] = {
        resolve: () => (clearTimeout(timer), resolve()),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
    });
  }

  /**
   * Applies everything the workers have written to their rings, in order. Called by the
   * reading loop and before every read of the location table here (`beforeRead`).
   */
  drain(): boolean {
    if (this.#draining) return false;
    this.#draining = true;
    let any = false;
    try {
      this.#backs.forEach((reader, i) => {
        const from = i + 1;
        any = reader.drain((record: RingRecord<FromWorker>) => {
          if (record.kind !== "message") return;
          const m = record.message;
          if (!LIFECYCLE.has(m.t)) this.#receive(from, m as Exclude<FromWorker, Lifecycle>);
        }) || any;
      });
    } finally {
      this.#draining = false;
    }
    return any;
  }

  #receive(from: number, m: Exclude<FromWorker, Lifecycle>): void {
    const c = this.#context!;
    switch (m.t) {
      case "sip":
      case "send": {
        const flow = this.#flowRefsIn.flowOf(m);
        if (!flow) return log.error(`worker ${from}: a relay names flow ${m.ref}, never sent`);
        if (m.to !== 0) {
          if (m.t === "sip") this.handOff(m.to, m.bytes, flow);
          else this.sendVia(m.to, m.bytes, flow);
        } else if (m.t === "sip") c.transport.receive(m.bytes, flow);
        else c.transport.sendOwned(m.bytes, flow);
        return;
      }
      case "binding": {
        // Main's copy speaks for the server: its events feed the API and callbacks. The
        // worker wrote a refresh as its changed fields; the others get the whole record.
        const change = this.#received[from - 1].unpack(m.change);
        if (!change) return log.error(`worker ${from}: a location refresh of an unknown binding`);
        c.location.applyReplica(unpackChange(change), true);
        this.#share(change, from);
        return;
      }
      case "flow":
        c.transport.flowElsewhere(m.flow, m.open);
        this.#mirrors.announced(from, m.flow, m.open);
        this.#broadcast(m, from, false);
        return;
      case "dialog":
        c.dialogs.put(m.view);
        return;
      case "auth":
        if (m.ok) c.abuse.recordSuccess(m.host, m.user, m.realm);
        else c.abuse.recordFailure(m.host, m.user, m.realm, m.bans === true);
        return;
      case "counters":
        for (const d of m.deltas) c.counters.inc(d.name, d.labels, d.by);
        return;
      case "called": {
        const pending = this.#calls.get(m.id);
        this.#calls.delete(m.id);
        if (!m.refusal) pending?.resolve(m.value);
        else pending?.reject(refusalError(m.refusal));
        return;
      }
      case "conns":
        this.#mirrors.refreshed(m.snapshots);
        return;
      case "synced": {
        const sync = this.#syncs.get(m.id);
        if (sync && --sync.waiting === 0) sync.done();
        return;
      }
      case "decide":
        void this.#decide(from, m.id, m.info);
        return;
      case "event":
        c.events.emit(m.event);
        return;
    }
  }

  /**
   * Resolves once every worker has applied what was sent to it before (bans, bindings,
   * accounts: the re-read included) and reported its counters and connections as they are
   * now (after everything it sent before), so the API reads the server's exact figures. A worker
   * that does not answer within `waitMs` (stuck, or gone) is not waited for.
   */
  sync(waitMs = SYNC_TIMEOUT_MS): Promise<void> {
    return this.#everyWorker((id) => ({ t: "sync", id }), waitMs);
  }

  /**
   * Graceful stop, first step: every worker refuses new dialogs and registrations (503)
   * and finishes the calls it is setting up; resolves when all have (at most `graceMs`).
   * Until then none closes, so whichever worker a new request reaches answers 503.
   */
  finishCalls(graceMs: number): Promise<void> {
    return this.#everyWorker((id) => ({ t: "drain", id, graceMs }), graceMs + SYNC_TIMEOUT_MS);
  }

  /** Sends every worker `message`; resolves when each answered `synced` (or `waitMs` passed). */
  #everyWorker(message: (id: number) => ToWorker, waitMs: number): Promise<void> {
    if (this.#rings.length === 0) return Promise.resolve();
    const id = this.#nextSync++;
    const sent = message(id);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        log.warn(`${sent.t}: not every worker answered within ${waitMs} ms`);
        finish();
      }, waitMs);
      const syncs = this.#syncs;
      function finish() {
        clearTimeout(timer);
        syncs.delete(id);
        resolve();
      }
      this.#syncs.set(id, { waiting: this.#rings.length, done: finish });
      this.#broadcast(sent);
    });
  }

  /** Does `action` on a call worker `worker` holds; settles with its result or refusal. */
  callAction(worker: number, action: CallAction, args: unknown[]): Promise<unknown> {
    const id = this.#nextCall++;
    return new Promise((resolve, reject) => {
      this.#calls.set(id, { resolve, reject });
      this.#post(worker, { t: "call", id, action, args });
    });
  }

  async #decide(from: number, id: number, info: InboundInfo): Promise<void> {
    const decide = this.#context?.calls.decide;
    const decision = decide ? await decide(info).catch(() => undefined) : undefined;
    this.#post(from, { t: "decided", id, decision });
  }

  /** Resolves once every worker has applied `config` (a reload's secrets hold everywhere). */
  reload(config: Config): Promise<void> {
    const transport = this.#context?.transport;
    if (!transport) return Promise.resolve();
    this.#broadcast({ t: "reload", config: boundConfig(config, transport) });
    return this.sync(SETTLE_TIMEOUT_MS);
  }

  /** Every worker drains (graceful stop) and ends; bounded by `graceMs` plus a margin. */
  async stop(graceMs: number): Promise<void> {
    this.#unobserve?.();
    this.#unobserveBans?.();
    this.#unobserveCluster?.();
    this.#broadcast({ t: "stop", graceMs });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => timer = setTimeout(resolve, graceMs + 3000));
    await Promise.race([Promise.all(this.#stopped), late]);
    clearTimeout(timer);
    for (const thread of this.#threads) thread.terminate();
    this.#threads = [];
    closeSockets(this.#udpSockets.splice(0));
    for (const pending of this.#awaiting.splice(0)) pending.reject(new Error("worker stopped"));
    for (const stop of this.#stopReading.splice(0)) stop();
    this.drain();
    this.#backs = [];
    this.#received = [];
    this.#sent = [];
    this.#flowRefsOut = [];
    if (this.#context) {
      this.#context.location.beforeRead = undefined;
      this.#context.dialogs.beforeRead = undefined;
    }
    for (const ring of this.#rings) ring.close();
    this.#rings = [];
    for (const pending of this.#calls.values()) pending.reject(new Error("worker stopped"));
    this.#calls.clear();
    for (const sync of [...this.#syncs.values()]) sync.done();
  }
}

/** A worker's refusal as the API expects it: a `CallError` with its status and field. */
function refusalError(r: CallRefusal): Error {
  const status = r.status as CallError["status"] | undefined;
  return status ? new CallError(status, r.message, r.field) : new Error(r.message);
}

const WRITES = [
  "putAccount",
  "deleteAccount",
  "applyChanges",
  "putDomain",
  "deleteDomain",
  "clear",
] as const;

/** Calls `changed` after every write to `store` settles; the write settles after it. */
function afterWrites(store: AccountStore, changed: () => Promise<void>): void {
  for (const name of WRITES) {
    const write = store[name].bind(store) as (...args: unknown[]) => Promise<unknown>;
    (store as unknown as Record<string, unknown>)[name] = (...args: unknown[]) =>
      write(...args).finally(changed);
  }
}

/** The config with the ports actually bound (port 0 picks one), for the worker threads. */
function boundConfig(config: Config, transport: TransportLayer): Config {
  const port = (name: TransportName) => transport.listening().find((l) => l.transport === name);
  return {
    ...config,
    udpPort: port("udp")?.local.port,
    // Stream ports main opens after the workers (server.ts) are the configured ones.
    tcpPort: port("tcp")?.local.port ?? config.tcpPort,
    tlsPort: port("tls")?.local.port ?? config.tlsPort,
    wsPort: port("ws")?.local.port ?? config.wsPort,
    wssPort: port("wss")?.local.port ?? config.wssPort,
  };
}

/** The main thread's UDP socket, for worker threads to send on (Linux only). */
function sharedUdpSocket(transport: TransportLayer): WorkerSetup["udpSocket"] {
  const udp = transport.listening().find((l) => l.transport === "udp");
  if (!udp) return undefined;
  const fd = udpDescriptor(udp.local.port, udp.local.host);
  if (fd === undefined) {
    throw new Error("workers > 1 with UDP needs Linux and --allow-ffi (set workers = 1)");
  }
  return { fd, local: udp.local, owner: transport.owner };
}
