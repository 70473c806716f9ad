/**
 * @module The composition root: builds every layer from a `Config` (store, transport,
 * transactions, registrar, router) and wires them with callbacks, upward only. It owns
 * start, stop and reload; the CLI, API and dashboard reach the running parts through the
 * `Server` it returns. Its parts live in src/server/ (the certificate's lifecycle, Config
 * sections translated into layer options, what a closed connection entails).
 */
import type { Config } from "./config/config.ts";
import { DigestAuthenticator } from "./core/auth.ts";
import { type BindingReader, LocationService } from "./core/location.ts";
import { removeOrphanBindings } from "./core/binding.ts";
import { BindingJournal } from "./core/binding_journal.ts";
import type { ClusterNode } from "./core/cluster_node.ts";
import { ClusterView } from "./core/cluster_view.ts";
import { clusterNodeId, clusterWide, joinCluster } from "./core/cluster_join.ts";
import { Registrar } from "./core/registrar.ts";
import { Router } from "./core/router.ts";
import { DialogTracker } from "./core/dialogs.ts";
import { Proxy } from "./core/proxy.ts";
import { CallControl } from "./core/calls/call_control.ts";
import { startPinger } from "./core/pinger.ts";
import { FlowTokens } from "./core/record_route.ts";
import { deriveKeys, randomSecret } from "./core/secrets.ts";
import { Counters, EventBus } from "./events.ts";
import { Logger } from "./log.ts";
import { newTag } from "./sip/ids.ts";
import { createResponse } from "./sip/message.ts";
import { hasTag } from "./sip/tag.ts";
import type { AccountStore } from "./store/account.ts";
import { openBindingStore, openStore } from "./store/open_store.ts";
import { TransactionLayer } from "./transaction/layer.ts";
import { isLoopback, isWildcard } from "./transport/address.ts";
import { TransportLayer } from "./transport/layer.ts";
import { AbuseGuard } from "./transport/abuse_guard.ts";
import { SourceTable } from "./transport/source_table.ts";
import { reportAbuse } from "./core/abuse_reports.ts";
import type { WorkerLinks } from "./transport/worker_links.ts";
import { SETTLE_TIMEOUT_MS, WorkerPool } from "./workers/pool.ts";
import { CallSlots } from "./core/calls/call_slots.ts";
import { NonceCounts } from "./core/nonce_counts.ts";
import { startHeapGovernor } from "./server/heap_governor.ts";
import { MemoryGuard, watchMemory } from "./server/memory_guard.ts";
import { setCallIdAffinity } from "./sip/ids.ts";
import type { WorkerSetup } from "./workers/protocol.ts";
import type { CertificateInfo } from "./transport/certificate.ts";
import { CertificateKeeper, readTls } from "./server/certificates.ts";
import { flowClosedHandler } from "./server/flow_closed.ts";
import {
  abuseOptions,
  readClientCa,
  tcpBindingsRule,
  webSocketPolicy,
  workerCount,
} from "./server/layer_options.ts";

export interface Server {
  readonly config: Config;
  /** This node's part in a cluster (`[cluster] redis`), else undefined (main thread only). */
  readonly cluster?: ClusterNode;
  /** On a cluster node: the other nodes' bindings as this thread sees them (a worker's copy). */
  readonly clusterView?: ClusterView;
  /** Every node's bindings (this node's location service alone when standalone). */
  readonly registrations: BindingReader;
  readonly startedAt: number;
  readonly store: AccountStore;
  readonly location: LocationService;
  readonly transport: TransportLayer;
  readonly transactions: TransactionLayer;
  readonly counters: Counters;
  readonly events: EventBus;
  readonly dialogs: DialogTracker;
  /** The certificate TLS and WSS present now (undefined without TLS/WSS). */
  certificate(): CertificateInfo | undefined;
  /** Calls placed or held over HTTP. */
  readonly calls: CallControl;
  /** Bans, rate limit and connection caps ([abuse]). */
  readonly abuse: AbuseGuard;
  /**
   * Settles once every worker's counters, connection figures and reports so far have
   * reached this thread (at once with one worker): the API awaits it before it reads.
   */
  sync(): Promise<void>;
  /**
   * Settles once every worker has applied every change sent to it so far (a ban lifted, a
   * binding removed, a policy switched): what acts next sees the change in any worker. Waits
   * longer than `sync` for a slow worker (a loaded machine), not forever for a stuck one.
   */
  settle(): Promise<void>;
  /**
   * Refuses new dialogs and registrations (503) from now on, and resolves once the calls
   * being set up here have finished (at most `graceMs`). `stop` begins with it.
   */
  drain(graceMs: number): Promise<void>;
  /** Re-reads accounts and certificates and applies a new config where it can live. */
  reload(config: Config): Promise<void>;
  /**
   * Graceful stop: new dialogs and registrations get 503 while calls being set up finish
   * (at most `graceMs`, default 5 s), then every layer closes and the store is flushed.
   */
  stop(graceMs?: number): Promise<void>;
}

const log = new Logger("server");

/**
 * Something started with the server and stopped before it, e.g. the control API. Layers
 * to the right of this file plug in here, so this file never imports them.
 */
export type Attachment = (
  server: Server,
) => Attached | Promise<Attached>;
/** What an attachment hands back to be stopped with the server. */
export interface Attached {
  close(): Promise<void> | void;
}

/** Source addresses the shared table of several workers tracks (as the guard's own tables). */
const MAX_SOURCES = 100_000;

/**
 * `worker` is given inside a worker thread (src/workers/worker_main.ts); the main thread
 * starts the other workers itself when the config asks for more than one.
 */
export async function startServer(
  initial: Config,
  attachments: Attachment[] = [],
  worker?: WorkerSetup & {
    links: WorkerLinks;
    /**
     * Digest outcomes go to the main thread, which counts failures for every worker; `bans`:
     * this failure banned the address (counted in the process's source table).
     */
    reportAuth?: (ok: boolean, host: string, user: string, realm: string, bans?: boolean) => void;
  },
): Promise<Server> {
  let config = initial;
  // `workers = N`: N threads, the main thread being worker 0 (with 3 or more it takes
  // almost no calls of its own: `callOwner`, docs/workers.md).
  const count = worker?.count ?? workerCount(config);
  const pool = !worker && count > 1 ? new WorkerPool(count) : undefined;
  // Calls this thread places (API, pinger) must hash back to it (worker 0 here).
  if (!worker) setCallIdAffinity(0, count);
  const links = worker?.links ?? pool;
  const counters = new Counters();
  const events = new EventBus();
  const store = await openStore(config);
  const loaded = await readTls(config);
  // Shared by every worker and node when configured; random for this process otherwise
  // (then handed to this process's worker threads, which must accept each other's).
  const fallbackSecret = worker?.fallbackSecret ?? randomSecret();
  // Flows name their owner: one node (the main thread picks it; in a cluster, the cluster
  // node id), and the worker within it. The cluster decides local or relay by this owner.
  const clustered = !worker && config.cluster.redis !== "";
  const owner = worker
    ? { node: worker.node, worker: worker.index }
    : clustered
    ? { node: clusterNodeId(config), worker: 0 }
    : undefined;
  let keys = deriveKeys(config.sip, fallbackSecret);
  // One replay state for the process: a nonce-count one worker accepted is a replay to all.
  const nonceCounts = worker ? new NonceCounts(worker.nonceCounts) : undefined;
  const authenticator = new DigestAuthenticator({
    algorithms: config.sip.digestAlgorithms,
    nonceTtlSeconds: config.sip.nonceTtl,
    secret: keys.nonces.current,
    previousSecret: keys.nonces.previous,
    // Each worker issues nonces in slots of its own, so another worker checking one of them
    // (a phone re-registering over a connection another worker holds) does not find the
    // slot taken by a nonce of its own and answer "stale".
    slots: { index: worker?.index ?? 0, count },
    nonceCounts,
  });
  const tokens = new FlowTokens(keys.flowTokens.current, keys.flowTokens.previous);
  const location = new LocationService(events);
  // With several workers an address's rate and connections are counted for the process.
  const sources = worker?.sources
    ? new SourceTable(worker.sources)
    : pool
    ? new SourceTable(MAX_SOURCES)
    : undefined;
  const abuse = new AbuseGuard(abuseOptions(config), Date.now, sources);
  // The RSS is the process's: its budget is the configured one per worker times the workers,
  // and malloc's arenas are too (the main thread alone trims them).
  const memory = new MemoryGuard(
    config.sip.overloadMemoryMb * count * 1024 * 1024,
    worker ? { trim: undefined } : {},
  );
  const transport = new TransportLayer({
    hostname: config.interface,
    udpPort: config.udpPort,
    tcpPort: config.tcpPort,
    tlsPort: config.tlsPort,
    wsPort: config.wsPort,
    wssPort: config.wssPort,
    tls: loaded?.tls,
    websocket: webSocketPolicy(config),
    // `host` is lower-case already (the policy's hostOf).
    isServedHost: (host) =>
      isLocalHost(host) ||
      config.websocket.hostAliases.some((alias) => alias.toLowerCase() === host),
    webSocketLimits: config.websocket,
    webSocketClientCa: await readClientCa(config),
    maxMessageSize: config.sip.maxMessageSize,
    udpReceiveBuffer: config.sip.udpReceiveBuffer,
    overloadLagMs: config.sip.overloadLagMs,
    counters,
    guard: abuse,
    owner,
    workers: links,
    memory,
    udpSocket: worker?.udpSocket,
    connectionCounter: worker?.connectionCounter,
  });
  // Registrations kept by the previous run come back before the first REGISTER is read
  // (the transport listens at start()). In a cluster Redis keeps the registrations;
  // standalone, the embedded store does. The main thread alone does either (its copy sees
  // every worker's changes).
  const cluster = clustered
    ? await joinCluster(config, transport.owner, location, events)
    : undefined;
  const journal = worker || cluster
    ? undefined
    : new BindingJournal(openBindingStore(config), location);
  await journal?.restore();
  journal?.start();
  for (const binding of worker?.bindings ?? []) location.restore(binding);
  const abuseReports = await reportAbuse({
    abuse,
    counters,
    events,
    closeFrom: (address) => transport.closeFrom(address),
    cluster: cluster && { link: cluster.link, nodeId: cluster.node.id },
  });
  const transactions = new TransactionLayer({
    sender: transport,
    t1: config.sip.t1,
    t2: config.sip.t2,
    t4: config.sip.t4,
  });
  // A worker of a cluster node keeps a copy of main's view of the other nodes.
  const clusterView = cluster?.node.view ??
    (worker?.cluster && owner ? new ClusterView(owner.node) : undefined);
  for (const change of worker?.cluster ?? []) clusterView!.apply(change, location);
  const registrations = clusterView
    ? clusterWide(location, cluster?.node ?? clusterView)
    : location;
  // Registered in this node now (by any worker): another node's copy of the registration is
  // stale at once, as the main thread's ClusterNode drops it, so a 200 lists it no more.
  if (worker && clusterView) {
    location.observe((binding, change) => {
      if (change === "saved") {
        clusterView.apply({ op: "delete", aor: binding.aor, key: binding.key });
      }
    });
  }
  const report = worker?.reportAuth;
  const deps = {
    authenticator,
    store,
    counters,
    events,
    location,
    registrations,
    // In a worker thread, failures are counted on the main thread; its bans and account
    // locks come back to this worker's guard (workers/pool.ts). The failure that bans an
    // address is seen here at once (the process's source table): its connections here close
    // before it is answered, as with one thread, and main is told to ban it.
    abuse: report
      ? {
        recordFailure: (host: string, user: string, realm: string) => {
          const bans = abuse.countFailure(host);
          if (bans) transport.closeFrom(host);
          report(false, host, user, realm, bans);
        },
        recordSuccess: (host: string, user: string, realm: string) => {
          abuse.recordSuccess(host, user, realm); // the process's "known-good" at once
          report(true, host, user, realm);
        },
        isBlocked: (host: string, user: string, realm: string) =>
          abuse.isBlocked(host, user, realm),
      }
      : abuse,
    config: () => config,
  };
  // Bindings of accounts deleted elsewhere (the CLI, another node, a reload) go; each
  // node removes its own (the main thread's copy holds every worker's), announcing each.
  const sweepOrphans = worker ? undefined : () => removeOrphanBindings(location, store);
  if (sweepOrphans) store.onReloaded = sweepOrphans;
  const registrar = new Registrar(deps);
  const isLocalHost = (host: string): boolean => {
    const h = host.toLowerCase().replace(/^\[|\]$/g, "");
    if (config.sip.domains.includes(h) || store.getDomain(h)) return true;
    if (h === config.interface.toLowerCase()) return true;
    // Bound to one address, other loopback addresses are other servers (cluster nodes on
    // 127.0.0.2, .3, ... of one machine); bound to all, every address of ours counts. The
    // transport reads the machine's addresses once (and on reload), not per request.
    return isWildcard(config.interface) && (isLoopback(h) || transport.isInterfaceAddress(h));
  };
  const router = new Router({ registrar, config: () => config, counters, isLocalHost });
  const dialogs = new DialogTracker({
    events,
    lifetimeMs: config.sip.dialogTimeout * 1000,
  });
  cluster?.node.shareDialogs(() => dialogs.list());
  const proxy = new Proxy({
    ...deps,
    transactions,
    transport,
    isLocalHost,
    dialogs,
    tokens,
    cluster: clusterView,
  });
  router.forwarder = proxy;
  const calls = new CallControl({
    transactions,
    transport,
    store,
    events,
    dialogs,
    config: () => config,
    now: Date.now,
    bindingHops: (uri) => proxy.bindingHops(uri),
    // api.max_calls bounds the server: every worker takes slots of the main thread's count.
    slots: worker && new CallSlots(worker.callSlots),
  });
  proxy.inbound = calls;

  const certificates = new CertificateKeeper(
    loaded,
    () => config,
    (tls) => transport.reloadCertificates(tls),
  );

  transport.onMessage = (inbound) => transactions.receive(inbound);
  transport.onFlowOpened = (flow) => events.emit({ type: "flow.opened", flow });
  let tcpBindings = tcpBindingsRule(config);
  transport.onFlowClosed = flowClosedHandler(location, events, () => tcpBindings);
  let draining = false;
  transactions.onRequest = (request, flow, tx) => {
    // While draining, only requests inside existing dialogs (BYE, ACK, re-INVITE) go on.
    if (draining && tx && !hasTag(request.get("to"))) {
      const refusal = createResponse(request, 503, "Shutting Down", newTag());
      refusal.append("Retry-After", "5");
      tx.respond(refusal);
      return;
    }
    // Requests inside a dialog sipws itself holds (API calls) are answered by their call.
    if (calls.receive(request, flow, tx && ((response) => tx.respond(response)))) return;
    router.handle(request, flow, tx);
  };
  transactions.onStrayResponse = (response) => {
    counters.inc("sip_stray_responses_total");
    proxy.forwardStray(response);
  };
  transactions.onDropped = (_flow, reason) => counters.inc("sip_dropped_total", { reason });

  // With several workers a stream listener open alone in its port's SO_REUSEPORT group gets
  // every connection made meanwhile, for good: the workers open theirs once all serve
  // (`pool.listen`), main with them. Main binds a port 0 here, telling the workers the
  // port the kernel chose; no client knows that port before this returns.
  transport.start(count > 1 ? (port) => port === 0 && !worker : undefined);
  for (const flow of worker?.flows ?? []) transport.flowElsewhere(flow, true);
  if (pool) {
    try {
      await pool.start({
        config,
        transport,
        abuse,
        location,
        counters,
        events,
        dialogs,
        store,
        calls,
        fallbackSecret,
        nonceCounts: authenticator.nonceCounts.buffer,
        sources: sources?.buffer,
        cluster: cluster?.node,
      });
      const listening = pool.listen();
      try {
        transport.listenStreams();
      } finally {
        await listening;
      }
    } catch (error) {
      await pool.stop(0);
      await transport.stop();
      await journal?.close();
      store.close();
      throw error;
    }
    log.info(`${count} SIP workers share the ports`);
  }
  const stopHeapGovernor = startHeapGovernor();
  const stopMemoryGuard = watchMemory(memory);
  const sweep = setInterval(() => {
    location.sweep();
    dialogs.sweep();
    abuse.sweep();
  }, 1000);
  // RFC 7118 §6 / RFC 5626 §4.4.1: CRLF keep-alives keep NATs and proxies from idling out.
  const keepaliveSeconds = config.websocket.keepaliveInterval;
  const keepalive = keepaliveSeconds > 0
    ? setInterval(() => {
      for (const c of transport.ownConnections()) {
        if (c.flow.transport === "ws" || c.flow.transport === "wss") c.ping();
      }
    }, keepaliveSeconds * 1000)
    : undefined;
  const startedAt = Date.now();
  for (const l of transport.listening()) {
    log.info(`listening on ${l.transport} ${l.local.host}:${l.local.port}`);
  }
  events.emit({ type: "server.started" });
  certificates.start();
  const webSockets = config.wsPort !== undefined || config.wssPort !== undefined;
  if (webSockets && config.websocket.allowedOrigins.length === 0) {
    log.warn("[websocket] allowed_origins is empty: pages from any origin may connect");
  }

  let stopped = false;
  // One pinger for the server: the main thread pings every binding, through its owner.
  const pinger = worker ? undefined : startPinger({
    get config() {
      return config;
    },
    location,
    transactions,
    transport,
    counters,
  });
  const server: Server = {
    get config() {
      return config;
    },
    startedAt,
    store,
    cluster: cluster?.node,
    clusterView,
    registrations,
    location,
    transport,
    transactions,
    counters,
    events,
    dialogs,
    certificate: () => certificates.info,
    calls,
    abuse,
    sync: () => pool?.sync() ?? Promise.resolve(),
    settle: () => pool?.sync(SETTLE_TIMEOUT_MS) ?? Promise.resolve(),
    async reload(next: Config) {
      config = next;
      tcpBindings = tcpBindingsRule(next);
      abuse.configure(abuseOptions(next));
      transport.refreshInterfaces();
      transport.setWebSocketPolicy(webSocketPolicy(next));
      transport.setWebSocketClientCa(await readClientCa(next));
      keys = deriveKeys(next.sip, fallbackSecret);
      authenticator.setSecrets(keys.nonces.current, keys.nonces.previous);
      tokens.setSecrets(keys.flowTokens.current, keys.flowTokens.previous);
      pinger?.reload();
      await store.reload();
      sweepOrphans?.();
      await certificates.reload("reload");
      await pool?.reload(next);
      log.info("configuration, accounts and certificates reloaded");
    },
    async drain(graceMs: number) {
      draining = true;
      const deadline = Date.now() + graceMs;
      while (proxy.pending > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async stop(graceMs = 5000) {
      if (stopped) return;
      stopped = true;
      const deadline = Date.now() + graceMs;
      // Every worker refuses new requests until all have finished their calls; then all close.
      await Promise.all([server.drain(graceMs), pool?.finishCalls(graceMs)]);
      // Before any worker or the transport closes connections: their bindings stay saved for
      // the restart, and no control server hears of them going.
      await journal?.close();
      await cluster?.node.close();
      for (const attached of started.reverse()) await attached.close();
      await pool?.stop(Math.max(0, deadline - Date.now()));
      clearInterval(sweep);
      clearInterval(keepalive);
      stopHeapGovernor();
      stopMemoryGuard();
      certificates.close();
      pinger?.close();
      proxy.close();
      calls.close();
      abuseReports.close();
      cluster?.link.close();
      transactions.close();
      await transport.stop();
      store.close();
      events.emit({ type: "server.stopped" });
    },
  };
  const started: Attached[] = [];
  try {
    for (const attach of attachments) started.push(await attach(server));
    cluster?.node.serving();
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}
