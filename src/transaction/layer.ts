/**
 * @module The transaction layer (RFC 3261 §17): takes every inbound message from the
 * transport, matches requests to server transactions (§17.2.3, branch or RFC 2543 fallback)
 * and responses to client transactions (§17.1.3), answers CANCEL (200 when it matches an
 * INVITE transaction, then tells the TU; 481 otherwise), and hands new requests and stray
 * responses up through callbacks. It owns the timer wheel. It never names the core: the TU
 * plugs in through `onRequest` / `onStrayResponse` and the handler objects it passes in.
 */
import { Logger } from "../log.ts";
import { newTag } from "../sip/ids.ts";
import { tagParam } from "../sip/tag.ts";
import { SipParseError } from "../sip/errors.ts";
import {
  createResponse,
  type SipMessage,
  type SipRequest,
  type SipResponse,
} from "../sip/message.ts";
import type { Flow, Inbound, MessageSender, Target } from "../transport/types.ts";
import {
  type AnyClientTransaction,
  type ClientContext,
  type ClientHandlers,
  type ClientTransaction,
  InviteClientTransaction,
  NonInviteClientTransaction,
} from "./client.ts";
import {
  type AnyServerTransaction,
  InviteServerTransaction,
  NonInviteServerTransaction,
  type ServerTransaction,
} from "./server.ts";
import { CompletedResponses } from "./completed.ts";
import { hashDigits, hashHigh, hashLow, hashStart, hashText, hashUnit } from "./key_hash.ts";
import { LingerQueue } from "./linger.ts";
import { InviteServerFinal } from "./server_final.ts";
import { ClientFinal } from "./client_final.ts";
import type { Keyed, LingerQueues } from "./context.ts";
import { SentResponse } from "./sent_response.ts";
import { type Clock, type Scheduler, systemClock, timerValues, TimerWheel } from "./timers.ts";

export type { ClientHandlers, ClientTransaction } from "./client.ts";
export type { ServerTransaction, TerminationReason } from "./server.ts";
export type { Clock } from "./timers.ts";

export interface TransactionLayerOptions {
  sender: MessageSender;
  t1: number;
  t2: number;
  t4: number;
  /** Defaults to real time. A `ManualClock` drives every timer from `advance(ms)`. */
  clock?: Clock;
  /** Timer D on unreliable flows; default max(32 s, 64*T1) (§17.1.1.2: at least 32 s). */
  timerD?: number;
  /** Replaces the timer wheel (the benchmark's setTimeout baseline). */
  scheduler?: Scheduler;
  /** Timer wheel resolution, default 10 ms. */
  timerTickMs?: number;
  /** Byte budget of the completed responses kept for Timer J (default 8 MiB, `COMPLETED_RING_BYTES`). */
  completedBytes?: number;
  logger?: Logger;
}

const MAGIC_COOKIE = "z9hG4bK";

/** A fresh RFC 3261 branch: the magic cookie plus 96 random bits. */
export function newBranch(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  let out = MAGIC_COOKIE;
  for (const b of bytes) out += (b < 16 ? "0" : "") + b.toString(16);
  return out;
}

/**
 * §17.2.3 server transaction key of `request` as if its method were `method` (ACK and
 * CANCEL look up the INVITE with "INVITE"). `toTag` replaces the request's To tag in the
 * RFC 2543 key (ACK lookups). Throws SipParseError when the matching headers are broken.
 */
export function serverKey(request: SipRequest, method: string, toTag?: string): string {
  const via = request.topVia;
  const branch = via.params.get("branch");
  if (branch && branch.startsWith(MAGIC_COOKIE)) {
    // RFC 3261: branch + sent-by + method (ACK/CANCEL rules applied by the caller).
    // `hashServerKey` hashes these same pieces: change both together.
    return branch + keySuffix(via.host, via.port, method);
  }
  // RFC 2543 fallback: Request-URI, To tag, From tag, Call-ID, CSeq number, top Via.
  const from = request.get("from");
  const to = request.get("to");
  if (from === undefined) throw new SipParseError("Missing From");
  if (to === undefined) throw new SipParseError("Missing To");
  const tag = toTag ?? tagParam(to);
  const top = request.getAll("via")[0];
  return `2543|${request.uri}|${
    tagParam(from)
  }|${request.callId}|${request.cseq.seq}|${method}|${tag}|${top.trim()}`;
}

/** One remembered `|host:port|method` per slot, picked by the port's low bits. */
interface SuffixSlot {
  host: string;
  port: number | undefined;
  method: string;
  suffix: string;
}
const SUFFIXES: (SuffixSlot | undefined)[] = new Array(64).fill(undefined);

/**
 * `|host:port|method`, the part of an RFC 3261 key after the branch: a client sends from
 * one sent-by again and again, so this is one concatenation per key instead of six and
 * a port number turned into text.
 */
function keySuffix(host: string, port: number | undefined, method: string): string {
  const at = (port ?? 0) & 63;
  const slot = SUFFIXES[at];
  if (slot !== undefined && slot.port === port && slot.host === host && slot.method === method) {
    return slot.suffix;
  }
  // Flat and copied: a slice of the request's head would keep the whole head alive.
  const suffix = (`|${host}:${port ?? ""}|${method}` + " ").slice(0, -1);
  SUFFIXES[at] = { host: suffix.slice(1, 1 + host.length), port, method, suffix };
  return suffix;
}

/**
 * Feeds key_hash.ts the pieces `serverKey` joins for an RFC 3261 key, in its order, so the
 * hashes equal those of the key string without walking (and so flattening) it. False for an
 * RFC 2543 key (hash its string).
 */
export function hashServerKey(request: SipRequest, method: string): boolean {
  const via = request.topVia;
  const branch = via.params.get("branch");
  if (!branch || !branch.startsWith(MAGIC_COOKIE)) return false;
  hashStart();
  hashText(branch);
  hashUnit(124); // "|"
  hashText(via.host);
  hashUnit(58); // ":"
  if (via.port !== undefined && !hashDigits(via.port)) return false;
  hashUnit(124);
  hashText(method);
  return true;
}

/** §17.1.3 client transaction key: top Via branch + CSeq method. */
export function clientKey(message: SipMessage, method = message.cseq.method): string {
  const branch = message.topVia.params.get("branch");
  if (!branch) throw new SipParseError("Bad Via", "no branch");
  return `${branch}|${method}`;
}

const NO_HANDLERS: ClientHandlers = {
  onResponse: () => {},
  onTimeout: () => {},
  onTransportError: () => {},
};

export class TransactionLayer {
  /**
   * New requests; `tx` is undefined for an ACK to a 2xx (no transaction). A CANCEL is not
   * delivered here: the layer answers it (200 when it matches an INVITE transaction, then
   * tells the listener set with `tx.listenForCancel`; 481 when it matches nothing).
   */
  onRequest: (request: SipRequest, flow: Flow, tx: ServerTransaction | undefined) => void;
  /** Responses matching no client transaction (e.g. stray 2xx retransmissions): a proxy forwards them statelessly. */
  onStrayResponse: (response: SipResponse, flow: Flow) => void;
  /** A message dropped without an answer (a malformed response or ACK, an unanswerable request). */
  onDropped: (flow: Flow, reason: string) => void = () => {};

  readonly #sender: MessageSender;
  readonly #scheduler: Scheduler;
  readonly #log: Logger;
  readonly #ctx: ClientContext;
  /** Server transactions by key; an INVITE's is replaced by what is left after its final. */
  readonly #servers = new Map<string, AnyServerTransaction | InviteServerFinal>();
  /** Client transactions by key, each replaced by what is left after its final (if any). */
  readonly #clients = new Map<string, AnyClientTransaction | ClientFinal>();
  readonly #linger: LingerQueues;
  /** Completed non-INVITE server transactions over UDP: key + final's bytes, for Timer J. */
  readonly #completed: CompletedResponses;
  readonly #clock: Clock;
  /** The clock as read for the request the TU is handling now (undefined between requests). */
  #requestTime: number | undefined;
  #closed = false;

  /** The timer wheel every transaction timer runs on; the proxy's Timer C uses it too. */
  get scheduler(): Scheduler {
    return this.#scheduler;
  }

  constructor(options: TransactionLayerOptions) {
    this.#sender = options.sender;
    this.#log = options.logger ?? new Logger("transaction");
    const log = this.#log;
    this.#scheduler = options.scheduler ?? new TimerWheel({
      clock: options.clock ?? systemClock,
      tickMs: options.timerTickMs,
      onError: (e) => log.error(`timer callback failed: ${describe(e)}`),
    });
    const timers = timerValues(options.t1, options.t2, options.t4, options.timerD);
    this.#clock = options.clock ?? systemClock;
    this.#completed = new CompletedResponses(timers.j, options.completedBytes);
    const clock = this.#clock;
    const queue = (delay: number, state: string) =>
      new LingerQueue(
        this.#scheduler,
        () => clock.now(),
        delay,
        state,
        (e) => log.error(`linger end failed: ${describe(e)}`),
      );
    this.#linger = {
      l: queue(timers.l, "Accepted"),
      h: queue(timers.h, "Completed"),
      i: queue(timers.i, "Confirmed"),
      m: queue(timers.m, "Accepted"),
      d: queue(timers.d, "Completed"),
      k: queue(timers.k, "Completed"),
    };
    this.onRequest = (request) => log.debug(`no TU for ${request.method}`);
    this.onStrayResponse = (response) => log.debug(`stray ${response.status} dropped`);
    this.#ctx = {
      sender: this.#sender,
      scheduler: this.#scheduler,
      timers,
      log,
      guard: (what, fn) => this.#guard(what, fn),
      keepCompleted: (key, status, final, flow) =>
        this.#completed.put(key, status, final, flow, this.#requestTime ?? this.#clock.now()),
      linger: this.#linger,
      forget: (tx) => {
        const table: Map<string, Keyed> = tx.side === "server" ? this.#servers : this.#clients;
        // Empty: a request answered in place never went in (and its key is not hashed).
        if (table.size !== 0 && table.get(tx.key) === tx) table.delete(tx.key);
      },
      replace: (tx, rest) => {
        const table: Map<string, Keyed> = tx.side === "server" ? this.#servers : this.#clients;
        if (table.get(tx.key) === tx) table.set(tx.key, rest);
      },
      sendCancel: (cancel, target) => {
        try {
          this.sendRequest(cancel, target, NO_HANDLERS);
        } catch (error) {
          log.warn(`CANCEL not sent: ${describe(error)}`);
        }
      },
    };
  }

  /** The transport delivers every inbound message here. Never throws. */
  receive(inbound: Inbound): void {
    if (this.#closed) return;
    const { message, flow } = inbound;
    try {
      if (message.isRequest) this.#receiveRequest(message, flow);
      else this.#receiveResponse(message, flow);
    } catch (error) {
      if (error instanceof SipParseError) this.#rejectMalformed(message, flow, error);
      else this.#log.error(`receive failed: ${describe(error)}`);
    }
  }

  /** Starts a client transaction; the request must already carry its top Via with a fresh branch (use newBranch()). */
  sendRequest(request: SipRequest, target: Target, handlers: ClientHandlers): ClientTransaction {
    if (this.#closed) throw new Error("TransactionLayer is closed");
    if (request.method === "ACK") {
      throw new Error("ACK has no client transaction: use sendStateless (§17.1.1.3, §13.2.2.4)");
    }
    const key = clientKey(request, request.method);
    if (!key.startsWith(MAGIC_COOKIE)) {
      throw new Error(`client transaction needs a ${MAGIC_COOKIE} branch in the top Via`);
    }
    if (this.#clients.has(key)) throw new Error(`duplicate client transaction ${key}`);
    const tx = request.method === "INVITE"
      ? new InviteClientTransaction(this.#ctx, key, request, target, handlers)
      : new NonInviteClientTransaction(this.#ctx, key, request, target, handlers);
    this.#clients.set(key, tx);
    tx.start();
    return tx;
  }

  /** Stateless send (ACK for 2xx forwarded by a proxy, stray responses). */
  async sendStateless(message: SipMessage, target: Target): Promise<void> {
    await this.#sender.send(message, target);
  }

  /** Counts for metrics/bench: live server/client transactions, kept completed responses. */
  stats(): { server: number; client: number; completed: number } {
    this.#completed.expire(this.#clock.now());
    return {
      server: this.#servers.size,
      client: this.#clients.size,
      completed: this.#completed.size,
    };
  }

  /** Terminates everything, cancels timers (shutdown). No callbacks run. */
  close(): void {
    this.#closed = true;
    for (const tx of this.#servers.values()) tx.abort();
    for (const tx of this.#clients.values()) tx.abort();
    this.#servers.clear();
    this.#clients.clear();
    this.#completed.clear();
    for (const q of Object.values(this.#linger)) q.clear();
    this.#scheduler.close();
  }

  #receiveRequest(request: SipRequest, flow: Flow): void {
    const method = request.method;
    if (method === "ACK") return this.#receiveAck(request, flow);

    const key = serverKey(request, method);
    // Hashing a fresh key string for a Map lookup costs more than building it: skipped
    // while no transaction is in the table (a REGISTER load answers each one in place).
    const existing = this.#servers.size === 0 ? undefined : this.#servers.get(key);
    if (existing) {
      // §17.2.3 match: a retransmission, handled by the state machine.
      existing.receiveRequest(request);
      return;
    }
    const now = method === "INVITE" ? undefined : this.#clock.now();
    if (now !== undefined) {
      // §17.2.2: a retransmission to a Completed transaction gets its final response again.
      if (hashServerKey(request, method)) this.#completed.hashed(key, hashLow(), hashHigh());
      const kept = this.#completed.get(key, now);
      if (kept) {
        const again = new SentResponse(kept.status, "", kept.bytes);
        this.#sender.send(again, { flow: kept.flow }).catch(() => {});
        return;
      }
    }
    if (method === "CANCEL") return this.#receiveCancel(request, flow, key);

    const tx = method === "INVITE"
      ? new InviteServerTransaction(this.#ctx, key, request, flow)
      : new NonInviteServerTransaction(this.#ctx, key, request, flow);
    // An INVITE's final hands it over to a record in its table slot (`replace`): in first.
    if (method === "INVITE") this.#servers.set(key, tx);
    // A final the TU gives while handling the request (a REGISTER's) is kept as of now:
    // the clock is read once per request, not again for the completed store.
    this.#requestTime = now;
    try {
      // Called in place, not through #guard: no closure or label string per request.
      this.onRequest(request, flow, tx);
    } catch (error) {
      this.#log.error(`onRequest(${method}) threw: ${describe(error)}`);
      // The TU failed before answering: answer 500 so the client stops retransmitting.
      if (!tx.hasFinal && tx.state !== "Terminated") {
        tx.respond(createResponse(request, 500, "Server Internal Error", newTag()));
      }
    } finally {
      this.#requestTime = undefined;
    }
    if (tx instanceof InviteServerTransaction) tx.tryingUnlessAnswered();
    // A non-INVITE is matched from now on. Nothing else runs while the TU handles the
    // request, so one it already ended (a REGISTER answered at once, its bytes in the
    // completed ring) never enters the table: no insert and delete per request.
    if (method !== "INVITE" && tx.state !== "Terminated") this.#servers.set(key, tx);
  }

  /** §17.2.3: an ACK matches the INVITE transaction (ACK for non-2xx); else it is the TU's. */
  #receiveAck(ack: SipRequest, flow: Flow): void {
    const tx = this.#findInviteForAck(ack);
    if (tx && tx.receiveRequest(ack) === "absorbed") return;
    // ACK for a 2xx: its own transaction-less request (§17.1.1.3, RFC 6026 §7.1).
    this.#guard("onRequest(ACK)", () => this.onRequest(ack, flow, undefined));
  }

  #findInviteForAck(ack: SipRequest): InviteServerTransaction | InviteServerFinal | undefined {
    const key = serverKey(ack, "INVITE");
    let tx = this.#servers.get(key);
    if (key.startsWith("2543|")) {
      // RFC 2543 ACK: the To tag equals the one of the response sent, while the INVITE may
      // have had none (initial INVITE) or the same (re-INVITE).
      tx ??= this.#servers.get(serverKey(ack, "INVITE", ""));
      const ackTag = tagParam(ack.get("to") ?? "");
      if (tx && (tx.responseToTag ?? "") !== ackTag) tx = undefined;
    }
    return tx instanceof InviteServerTransaction || tx instanceof InviteServerFinal
      ? tx
      : undefined;
  }

  /** §9.2: CANCEL is its own non-INVITE transaction, matched to the INVITE it cancels. */
  #receiveCancel(cancel: SipRequest, flow: Flow, key: string): void {
    const invite = this.#servers.get(serverKey(cancel, "INVITE"));
    const tx = new NonInviteServerTransaction(this.#ctx, key, cancel, flow);
    this.#servers.set(key, tx);
    if (!(invite instanceof InviteServerTransaction || invite instanceof InviteServerFinal)) {
      // §9.2: no matching transaction → 481 Call/Transaction Does Not Exist.
      tx.respond(createResponse(cancel, 481, undefined, newTag()));
      return;
    }
    // §9.2 / §16.10: a CANCEL that matches is answered 200 by us, whatever the INVITE's state.
    tx.respond(
      createResponse(
        cancel,
        200,
        undefined,
        invite.requestToTag || newTag(),
      ),
    );
    // §9.2: it only has an effect while no final response was sent.
    if (
      invite instanceof InviteServerTransaction && invite.state === "Proceeding" &&
      !invite.cancelled && invite.onCancel
    ) {
      invite.cancelled = true;
      const onCancel = invite.onCancel;
      this.#guard("onCancel", () => onCancel(cancel));
    }
  }

  #receiveResponse(response: SipResponse, flow: Flow): void {
    const tx = this.#clients.get(clientKey(response));
    if (tx) tx.receiveResponse(response, flow);
    // RFC 6026 §7.3 / §18.1.2: unmatched responses go to the core (a proxy forwards them).
    else this.#guard("onStrayResponse", () => this.onStrayResponse(response, flow));
  }

  /** A request whose matching headers are broken: stateless 400 when answerable. */
  #rejectMalformed(message: SipMessage, flow: Flow, error: SipParseError): void {
    this.#log.debug(
      `malformed ${message.isRequest ? message.method : "response"}: ${error.message}`,
    );
    const dropped = () =>
      this.onDropped(flow, `malformed ${message.isRequest ? "request" : "response"}`);
    if (!message.isRequest || message.method === "ACK") return dropped();
    try {
      const response = createResponse(message, 400, error.reason);
      // §8.2.6 needs Via, From, To, Call-ID and CSeq to route and match the answer.
      const answerable = ["via", "call-id", "cseq", "from", "to"].every((h) => response.get(h));
      if (!answerable) return dropped();
      this.#sender.send(response, { flow }).catch(() => {});
    } catch {
      dropped();
    }
  }

  #guard(what: string, fn: () => void): boolean {
    try {
      fn();
      return true;
    } catch (error) {
      this.#log.error(`${what} threw: ${describe(error)}`);
      return false;
    }
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}
