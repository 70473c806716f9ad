/**
 * @module Entry of a SIP worker thread: waits for its setup from the main thread, runs the
 * SIP layers (transport, transactions, core) as worker `index`, and applies what the main
 * thread sends: messages of calls it owns, sends on connections it holds, location
 * changes, account and configuration reloads, and the graceful stop.
 */
/// <reference lib="deno.worker" />
import { startServer } from "../server.ts";
import type { Server } from "../server.ts";
import { operatorPing } from "../transport/connection.ts";
import { setCallIdAffinity } from "../sip/ids.ts";
import { Logger } from "../log.ts";
import type { FromWorker, ToWorker } from "./protocol.ts";
import { WorkerPort } from "./port.ts";
import { RecordMemory, unpackChange } from "./location_record.ts";
import { FlowRefsIn } from "./flow_refs.ts";
import { readLoop, RingReader, type RingRecord, RingWriter } from "./ring.ts";
import type { CallAction } from "../core/calls/call_control.ts";
import { CallError } from "../core/calls/types.ts";

const log = new Logger("worker");
/**
 * Reports the main thread needs only before it reads its copies, answers the API (which
 * syncs first) or handles a message it read (`WorkerPool.catchUp`), else within `LAZY_MS`:
 * written without waking it. Not flows and dialog views, which main's copies announce at
 * once; location changes only while main relays them on (`bindingsWake`).
 */
const LAZY = new Set<FromWorker["t"]>(["auth", "counters", "conns"]);
/** Lifecycle messages go by `postMessage`; everything else through the ring, in order. */
let back: RingWriter<FromWorker> | undefined;
/** Whether location changes wake main (`WorkerSetup.bindingsWake`). */
let bindingsWake = true;
const post = (message: FromWorker) => {
  const lifecycle = message.t === "ready" || message.t === "listening" || message.t === "failed" ||
    message.t === "stopped";
  // A failure that banned an address wakes main: it lists, logs and calls back the ban.
  const lazy = LAZY.has(message.t) && !(message.t === "auth" && message.bans);
  const wake = !lazy && (bindingsWake || message.t !== "binding");
  if (back && !lifecycle) back.write({ kind: "message", message }, wake);
  else self.postMessage(message);
};
let server: Server | undefined;
let port: WorkerPort | undefined;
/**
 * The last account re-read or configuration reload: a sync waits for it (the API's write,
 * or the reloaded secrets, then hold here).
 */
let settling: Promise<void> = Promise.resolve();
/** The location records main sent here: a refresh comes as the fields it changed. */
const received = new RecordMemory();
/** The flows relays to this worker named, by number (flow_refs.ts). */
const flowRefs = new FlowRefsIn();
/** What arrived while the server was starting, applied once it serves. */
const early: ToWorker[] = [];

async function init(m: Extract<ToWorker, { t: "init" }>): Promise<void> {
  const { setup, config } = m;
  back = new RingWriter<FromWorker>(setup.back);
  bindingsWake = setup.bindingsWake;
  setCallIdAffinity(setup.index, setup.count);
  port = new WorkerPort(setup.index, setup.count, post, setup.peers);
  try {
    server = await startServer(config, [], {
      ...setup,
      links: port,
      reportAuth: (ok, host, user, realm, bans) =>
        post(
          bans ? { t: "auth", ok, host, user, realm, bans } : { t: "auth", ok, host, user, realm },
        ),
    });
  } catch (error) {
    post({ t: "failed", message: error instanceof Error ? error.message : String(error) });
    return;
  }
  port.attach(server.location, server.dialogs, server.counters, server.events);
  const transport = server.transport;
  port.reportConnections(() => transport.ownConnections());
  // Inbound calls of controlled domains ask the control server through the main thread.
  const p = port;
  server.calls.decide = (info) => p.decide(info);
  for (const ban of setup.bans) server.abuse.adopt(ban);
  for (const message of early.splice(0)) apply(message);
  post({ t: "ready" });
  const reader = new RingReader<ToWorker>(setup.ring);
  const drain = ringDrainer(reader, server);
  port.catchUp = () => void drain();
  // Read until the thread ends: a stopping server still finishes its calls.
  readLoop(reader, drain);
}

function apply(m: ToWorker): void {
  if (!server) {
    early.push(m);
    return;
  }
  switch (m.t) {
    case "sip":
    case "send": {
      const flow = flowRefs.flowOf(m);
      if (!flow) return log.error(`a relay names flow ${m.ref}, never sent here`);
      if (m.t === "sip") server.transport.receive(m.bytes, flow);
      else server.transport.sendOwned(m.bytes, flow);
      return;
    }
    case "binding": {
      const change = received.unpack(m.change);
      if (change) server.location.applyReplica(unpackChange(change), false);
      else log.error("a location refresh of an unknown binding");
      return;
    }
    case "flow":
      server.transport.flowElsewhere(m.flow, m.open);
      return;
    case "cluster":
      server.clusterView?.apply(m.change, server.location);
      return;
    case "abuse": {
      const c = m.change;
      if ("locked" in c) server.abuse.adoptLock(c.locked.address, c.locked.account, c.locked.until);
      else if ("lifted" in c) server.abuse.forget(c.lifted);
      else if (server.abuse.adopt(c.ban)) server.transport.closeFrom(c.ban.address);
      return;
    }
    case "conn": {
      const connection = server.transport.connection(m.id);
      if (!connection) return;
      if (m.op === "ping") connection.ping();
      else if (m.op === "probe") operatorPing(connection);
      else connection.close(m.close?.code, m.close?.reason, m.close?.by);
      return;
    }
    case "accepting":
      server.transport.setAccepting(m.accepting);
      return;
    case "websockets":
      server.transport.setWebSocketsEnabled(m.enabled);
      return;
    case "accounts":
      settling = server.store.reload().catch((e) => log.error(`account reload: ${e}`));
      return;
    case "call":
      void act(server, m.id, m.action, m.args);
      return;
    case "decided":
      port?.decided(m.id, m.decision);
      return;
    case "drain": {
      const p = port;
      void server.drain(m.graceMs).then(() => p?.sync(m.id));
      return;
    }
    case "sync": {
      const p = port;
      void settling.then(() => p?.sync(m.id));
      return;
    }
    case "reload":
      settling = server.reload(m.config).catch((e) => log.error(`reload: ${e}`));
      return;
    case "listen":
      try {
        server.transport.listenStreams();
        post({ t: "listening" });
      } catch (error) {
        post({ t: "failed", message: error instanceof Error ? error.message : String(error) });
      } finally {
        const tried = new Int32Array(m.tried);
        Atomics.add(tried, 0, 1);
        Atomics.notify(tried, 0);
      }
      return;
    case "stop": {
      const s = server;
      s.stop(m.graceMs).finally(() => {
        port?.close();
        post({ t: "stopped" });
      });
      return;
    }
  }
}

/** The API's action on a call this worker holds; the result or refusal goes back. */
async function act(s: Server, id: number, action: CallAction, args: unknown[]): Promise<void> {
  try {
    const calls = s.calls as unknown as Record<CallAction, (...a: unknown[]) => unknown>;
    post({ t: "called", id, value: await calls[action](...args) });
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    const refusal = error instanceof CallError
      ? { status: error.status, message: e.message, field: error.field }
      : { message: e.message };
    post({ t: "called", id, refusal });
  }
}

/**
 * Applies everything written to this worker's ring so far, in order; true when there was
 * something. Not again from inside (a record's handling may read the network's bytes).
 */
function ringDrainer(reader: RingReader<ToWorker>, s: Server): () => boolean {
  let draining = false;
  const handle = (record: RingRecord<ToWorker>) => {
    if (record.kind === "message") apply(record.message);
    else s.transport.receive(record.bytes, s.transport.udpFlowTo(record.host, record.port));
  };
  return () => {
    if (draining) return false;
    draining = true;
    try {
      return reader.drain(handle);
    } finally {
      draining = false;
    }
  };
}

self.onmessage = (e: MessageEvent<ToWorker>) => {
  if (e.data.t === "init") void init(e.data);
  else apply(e.data);
};
