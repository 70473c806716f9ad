/**
 * @module Outbound routing of the transport layer: sends a message on a flow or to an
 * address. A UDP flow goes out on our socket; a stream flow on its connection here, through
 * the worker of this node holding it, or to its owner on another node; a lost TCP/TLS
 * connection is reopened (RFC 3261 §18.2.2), a WS/WSS next hop dialled (WS client mode).
 */
import type { SipMessage } from "../sip/message.ts";
import type { Counters } from "../events.ts";
import { Logger } from "../log.ts";
import { MessageCounter } from "./message_labels.ts";
import { isInvalidHost } from "./address.ts";
import type { FlowTable } from "./flow_table.ts";
import type { Listeners } from "./listeners.ts";
import type { Flow, FlowOwner, Target, TransportName } from "./types.ts";
import type { WorkerLinks } from "./worker_links.ts";
import type { WsDialer } from "./ws_dialer.ts";

const log = new Logger("transport");

/** What routing reads from the layer that composes it. */
export interface OutboundContext {
  listeners: Listeners;
  flows: FlowTable;
  dialer: WsDialer;
  counters: Counters;
  workers?: WorkerLinks;
  owner: FlowOwner;
  /** True when `flow` lives in this process. */
  owns: (flow: Flow) => boolean;
  /** Hands bytes for a stream flow of another node to its owner (set late; may be unset). */
  foreign: () => ((bytes: Uint8Array, flow: Flow) => Promise<void>) | undefined;
}

export class Outbound {
  readonly #c: OutboundContext;
  readonly #messagesOut: MessageCounter;

  constructor(context: OutboundContext) {
    this.#c = context;
    this.#messagesOut = new MessageCounter(context.counters, "sip_messages_out_total");
  }

  /**
   * Sends on a flow reference or to an address. A UDP flow of another worker is reached
   * from our own socket (the same port under SO_REUSEPORT); a stream flow of another
   * worker or node goes to `foreign`, else is treated as a closed connection.
   */
  send(message: SipMessage, target: Target): Promise<Flow> {
    try {
      const bytes = message.toBytes();
      if ("flow" in target) {
        // The hot paths (every response): one promise, not a chain of async calls.
        const flow = target.flow;
        if (flow.transport === "udp") {
          const udp = this.#c.listeners.udpSocket();
          const sent = udp.send(bytes, flow.remote.host, flow.remote.port);
          if (sent === true) {
            this.#countOut(message, flow);
            return Promise.resolve(flow);
          }
          return this.#countWhenSent(sent, message, flow.transport, flow);
        }
        // A connection this worker holds (flow ids are unique per owner, so a flow of another
        // worker or node is never found here).
        const connection = this.#c.flows.get(flow.id);
        if (connection) {
          return this.#countWhenSent(connection.send(bytes), message, flow.transport, flow);
        }
      }
      const transport = "flow" in target ? target.flow.transport : target.transport;
      return this.#countWhenSent(this.#sendAny(bytes, target), message, transport);
    } catch (error) {
      // Callers chain .catch(): a failure is always a rejection, never a throw.
      return Promise.reject(error);
    }
  }

  #sendAny(bytes: Uint8Array, target: Target): Promise<Flow> {
    return "flow" in target ? this.#sendOnFlow(bytes, target.flow) : this.#sendTo(bytes, target);
  }

  /**
   * Counts `message` once `sent` settles; resolves with `flow`, else with what `sent` does.
   * Its closure holds the counter's entry, not the
   * message (nor `send`'s scope, where a closure would keep it): a stream write settles on
   * the event loop's next turn at the soonest, later while the peer reads slowly, and under
   * load a message kept that long outlives two scavenges and waits in old space for a
   * mark-compact (bench/stream_backlog.ts).
   */
  #countWhenSent(
    sent: Promise<unknown>,
    message: SipMessage,
    transport: TransportName,
    flow?: Flow,
  ): Promise<Flow> {
    const counter = this.#messagesOut;
    const out = counter.entry(transport, message);
    return sent.then((result) => {
      counter.add(out);
      return flow ?? result as Flow;
    });
  }

  #countOut(message: SipMessage, flow: Flow): void {
    this.#messagesOut.count(flow.transport, message);
  }

  async #sendOnFlow(bytes: Uint8Array, flow: Flow): Promise<Flow> {
    if (flow.transport === "udp") {
      await this.#c.listeners.udpSocket().send(bytes, flow.remote.host, flow.remote.port);
      return flow;
    }
    const worker = this.#otherWorker(flow);
    if (worker !== undefined) {
      // The connection lives in another worker of this node: it sends (or reaches the
      // peer anew).
      this.#c.workers!.sendVia(worker, bytes, flow);
      return flow;
    }
    const foreign = this.#c.foreign();
    if (!this.#c.owns(flow) && foreign) {
      await foreign(bytes, flow);
      return flow;
    }
    const connection = this.#c.flows.get(flow.id);
    if (connection) {
      await connection.send(bytes);
      return flow;
    }
    // A WebSocket flow that is gone cannot be reached anew: its peer's port was its own
    // (WS client mode dials next hops, never the remote end of a lost flow).
    if (flow.transport === "ws" || flow.transport === "wss") {
      throw new Error(`no ${flow.transport} connection for flow ${flow.id}`);
    }
    // RFC 3261 §18.2.2: the connection is gone; a TCP/TLS peer may be reached anew.
    return await this.#sendTo(bytes, { transport: flow.transport, ...flow.remote });
  }

  /** The worker of this node holding `flow`'s connection, when it is not this one. */
  #otherWorker(flow: Flow): number | undefined {
    const workers = this.#c.workers;
    const owner = flow.owner;
    if (!workers || !owner || owner.node !== this.#c.owner.node) return undefined;
    if (owner.worker === this.#c.owner.worker || owner.worker >= workers.count) return undefined;
    return owner.worker;
  }

  /** Another worker asks this one to send on a flow whose connection it holds. */
  sendOwned(bytes: Uint8Array, flow: Flow): void {
    const connection = this.#c.flows.get(flow.id);
    const sent = connection
      ? connection.send(bytes)
      : this.#sendTo(bytes, { transport: flow.transport, ...flow.remote });
    sent.catch((error) => log.debug(`send on ${flow.id} for another worker: ${String(error)}`));
  }

  async #sendTo(
    bytes: Uint8Array,
    target: { transport: TransportName; host: string; port: number },
  ): Promise<Flow> {
    if (isInvalidHost(target.host)) {
      throw new Error(`${target.host} is a placeholder host (RFC 7118); no flow reaches it`);
    }
    const { transport, host, port } = target;
    if (transport === "udp") {
      const udp = this.#c.listeners.udpSocket();
      await udp.send(bytes, host, port);
      return udp.flowTo(host, port);
    }
    const existing = this.#c.flows.toRemote(transport, { host, port });
    // Not awaited here: this frame (and `bytes`, a view of a serialization slab) would live
    // until the write settles.
    if (existing) return existing.send(bytes).then(() => existing.flow);
    if (transport === "ws" || transport === "wss") {
      const connection = await this.#c.dialer.dial(
        transport === "ws" ? this.#c.listeners.ws : this.#c.listeners.wss,
        transport,
        host,
        port,
      );
      await connection.send(bytes);
      return connection.flow;
    }
    const { tcp, tls } = this.#c.listeners;
    const listener = transport === "tcp" ? tcp : transport === "tls" ? tls : undefined;
    if (!listener) throw new Error(`no ${transport} connection to ${host}:${port}`);
    const connection = await listener.connect(host, port);
    return connection.send(bytes).then(() => connection.flow);
  }
}
