/**
 * @module Server transactions (RFC 3261 §17.2): the INVITE state machine of §17.2.1 with the
 * RFC 6026 Accepted state, and the non-INVITE machine of §17.2.2. A transaction sends the
 * responses its TU gives it on the flow the request came from, absorbs request
 * retransmissions, retransmits over unreliable flows and ends itself on its timers. It does
 * no matching (layer.ts does) and never looks at what a request means.
 */
import { createResponse, type SipRequest, SipResponse } from "../sip/message.ts";
import { tagParam } from "../sip/tag.ts";
import type { Flow } from "../transport/types.ts";
import {
  INVITE_SERVER,
  NON_INVITE_SERVER,
  type ServerTransactionState,
  type TransactionContext,
  TransactionStateError,
  transition,
} from "./context.ts";
import type { TimerHandle } from "./timers.ts";
import { SentResponse } from "./sent_response.ts";
import { InviteServerFinal } from "./server_final.ts";

export type { ServerTransactionState } from "./context.ts";

export type TerminationReason = "completed" | "timeout" | "transport_error";

export interface ServerTransaction {
  /**
   * The request that created the transaction, or undefined once released: an INVITE after
   * its final keeps only what retransmissions and ACK/CANCEL matching need (memory for
   * 64·T1).
   */
  readonly request: SipRequest | undefined;
  readonly flow: Flow;
  readonly isInvite: boolean;
  readonly state: ServerTransactionState;
  /** Sends a response through the transaction (provisional or final), per the state machine. Illegal in a terminated tx: throws. */
  respond(response: SipResponse): void;
  /** Where the layer reports a matching CANCEL; a TU sets it through `listenForCancel`. */
  onCancel?: (cancel: SipRequest) => void;
  /** Sets `onCancel`; false (and nothing set) for a non-INVITE, which cannot be cancelled. */
  listenForCancel(listener: ((cancel: SipRequest) => void) | undefined): boolean;
  /** Set by the TU: called when the tx terminates (timeout, transport error, normal). */
  onTerminated?: (reason: TerminationReason) => void;
}

abstract class ServerTransactionBase implements ServerTransaction {
  readonly side = "server" as const;
  readonly key: string;
  /** Undefined once released (see `request`). */
  #request: SipRequest | undefined;
  readonly #method: string;
  readonly flow: Flow;
  abstract readonly isInvite: boolean;
  onCancel?: (cancel: SipRequest) => void;
  onTerminated?: (reason: TerminationReason) => void;
  protected readonly ctx: TransactionContext;
  protected current: ServerTransactionState;
  /** Most recent response sent: what a request retransmission gets again. */
  protected lastResponse: SipResponse | undefined;

  constructor(
    ctx: TransactionContext,
    key: string,
    request: SipRequest,
    flow: Flow,
    initial: ServerTransactionState,
  ) {
    this.ctx = ctx;
    this.key = key;
    this.#request = request;
    this.#method = request.method;
    this.flow = flow;
    this.current = initial;
  }

  get request(): SipRequest | undefined {
    return this.#request;
  }

  /** The request, in a state that still holds it (a bug to ask later: throws). */
  protected get heldRequest(): SipRequest {
    return this.#request ?? this.illegal("reading the released request");
  }

  /** The RFC table of this machine; `enter` is the only way to change state. */
  protected abstract readonly table: typeof INVITE_SERVER;

  protected enter(state: ServerTransactionState): void {
    this.current = transition(this.#method, "server", this.table, this.current, state);
  }

  protected get method(): string {
    return this.#method;
  }

  /**
   * Completed with a final response that only retransmissions will need again: keep that
   * response as bytes and of the request only its method, for the memory's sake.
   */
  protected releaseRequest(): void {
    // Not even the Request-URI: a slice of the received head, it would pin all of it.
    this.#request = undefined;
  }

  get state(): ServerTransactionState {
    return this.current;
  }

  /** True once a final response went out (the TU's or the layer's). */
  get hasFinal(): boolean {
    return this.lastResponse !== undefined && this.lastResponse.status >= 200;
  }

  /** To tag of the last response (RFC 2543 ACK matching, §17.2.3). */
  get responseToTag(): string | undefined {
    const to = this.lastResponse?.get("to");
    return to === undefined ? undefined : tagParam(to);
  }

  abstract respond(response: SipResponse): void;

  listenForCancel(listener: ((cancel: SipRequest) => void) | undefined): boolean {
    if (!this.isInvite) return false;
    this.onCancel = listener;
    return true;
  }

  /** A request matched this transaction (a retransmission, or an ACK for INVITE). */
  abstract receiveRequest(request: SipRequest): "absorbed" | "to_tu";

  protected illegal(what: string): never {
    throw new TransactionStateError(
      `${this.#method} server transaction: ${what} in state ${this.current}`,
    );
  }

  protected checkStatus(response: SipResponse): void {
    if (!(response.status >= 100 && response.status <= 699)) {
      throw new RangeError(`bad response status ${response.status}`);
    }
  }

  protected send(response: SipResponse): void {
    this.ctx.sender.send(response, { flow: this.flow }).catch((error) => {
      // §17.2.4: a failure sending a response informs the TU and terminates the transaction.
      if (this.current === "Terminated") return;
      this.ctx.log.debug(`response send failed on ${this.flow.id}: ${error}`);
      this.terminate("transport_error");
    });
  }

  protected schedule(delay: number, fn: () => void): TimerHandle {
    return this.ctx.scheduler.schedule(delay, fn);
  }

  protected abstract cancelTimers(): void;

  terminate(reason: TerminationReason): void {
    if (this.current === "Terminated") return;
    this.enter("Terminated");
    this.cancelTimers();
    this.ctx.forget(this);
    const cb = this.onTerminated;
    if (cb) this.ctx.guard("onTerminated", () => cb(reason));
  }

  /** Shutdown: silent end, no callbacks. */
  abort(): void {
    if (this.current !== "Terminated") this.enter("Terminated");
    this.cancelTimers();
  }
}

/**
 * RFC 3261 §17.2.1 INVITE server transaction, updated by RFC 6026 §7.1 (Accepted). Its
 * Proceeding state lives here; from the final response on, an `InviteServerFinal` holds
 * what is left (server_final.ts) and takes this object's place in the layer's table, so the
 * request, the responses and this object can go while the TU lets go of it.
 */
export class InviteServerTransaction extends ServerTransactionBase {
  readonly isInvite = true;
  protected readonly table = INVITE_SERVER;
  /** Set by the layer once onCancel was reported: a repeated CANCEL is not reported again. */
  cancelled = false;
  /** Everything after the final response. */
  #final: InviteServerFinal | undefined;

  constructor(ctx: TransactionContext, key: string, request: SipRequest, flow: Flow) {
    super(ctx, key, request, flow, "Proceeding");
  }

  /**
   * §17.2.1: the server transaction MUST generate a 100 (Trying) unless the TU answers
   * within 200 ms. The layer calls this once the TU has seen the request: one it answered
   * in place (a 407 challenge, a 404) needs no 100; otherwise the 100 goes at once (as
   * proxies do) so the UAC stops Timer A now. Not kept as lastResponse: rebuilt for a
   * retransmission, which saves memory per transaction.
   */
  tryingUnlessAnswered(): void {
    if (this.lastResponse === undefined && !this.hasFinal) this.send(this.#trying());
  }

  override get state(): ServerTransactionState {
    return this.#final?.state ?? this.current;
  }

  override get hasFinal(): boolean {
    return this.#final !== undefined || super.hasFinal;
  }

  override get responseToTag(): string | undefined {
    return this.#final?.responseToTag ?? super.responseToTag;
  }

  /** The To tag of the INVITE itself ("" for an initial INVITE), for answering a CANCEL. */
  get requestToTag(): string {
    return this.#final?.requestToTag ?? tagParam(this.heldRequest.get("to") ?? "");
  }

  #trying(): SipResponse {
    const request = this.heldRequest;
    const trying = createResponse(request, 100);
    const timestamp = request.get("timestamp");
    if (timestamp !== undefined) trying.append("Timestamp", timestamp); // §8.2.6.1
    return trying;
  }

  respond(response: SipResponse): void {
    this.checkStatus(response);
    if (this.#final) return this.#final.respond(response);
    if (this.current !== "Proceeding") return this.illegal(`respond(${response.status})`);
    if (response.status < 200) {
      // §17.2.1: provisional responses from the TU are sent while in Proceeding.
      this.lastResponse = response;
      this.send(response);
      return;
    }
    // The final: a 2xx → Accepted (RFC 6026 §7.1), a 300-699 → Completed (§17.2.1), both
    // in the record that replaces this transaction. It is in place (and its timers run)
    // before the send: a synchronous transport may deliver the ACK from inside send().
    const accepted = response.status < 300;
    const sent = accepted ? undefined : new SentResponse(
      response.status,
      response.reason,
      response.toBytes().slice(),
    );
    const tags = {
      // Only an RFC 2543 ACK is matched by the To tag; a 3261 one has the INVITE's branch.
      response: this.key.startsWith("2543|") ? detach(tagParam(response.get("to") ?? "")) : "",
      request: detach(this.requestToTag),
    };
    const final = new InviteServerFinal(
      this.ctx,
      this.key,
      this.flow,
      tags,
      sent,
      this.onTerminated,
    );
    this.#final = final;
    this.lastResponse = undefined;
    this.releaseRequest();
    // A CANCEL is reported in Proceeding only: the TU's listener (and what it holds) can go.
    this.onCancel = this.onTerminated = undefined;
    this.ctx.replace(this, final);
    this.enter(accepted ? "Accepted" : "Completed");
    this.ctx.sender.send(sent ?? response, { flow: this.flow }).catch((error) => {
      if (final.state === "Terminated") return;
      this.ctx.log.debug(`response send failed on ${this.flow.id}: ${error}`);
      final.terminate("transport_error");
    });
  }

  receiveRequest(request: SipRequest): "absorbed" | "to_tu" {
    if (this.#final) return this.#final.receiveRequest(request);
    // §17.2.1: an ACK before any final is meaningless; a retransmitted INVITE in
    // Proceeding gets the most recent provisional again.
    if (request.method !== "ACK") this.send(this.lastResponse ?? this.#trying());
    return "absorbed";
  }

  override terminate(reason: TerminationReason): void {
    if (this.#final) this.#final.terminate(reason);
    else super.terminate(reason);
  }

  override abort(): void {
    if (this.#final) this.#final.abort();
    else super.abort();
  }

  protected cancelTimers(): void {
    // Proceeding runs no timer of its own (Timer G, H, I, L are the final record's).
  }
}

/**
 * RFC 3261 §17.2.2 non-INVITE server transaction. Its Completed state over an unreliable
 * flow is delegated to the layer (`keepCompleted`: key + response bytes for Timer J), so the
 * transaction object itself ends when its final response goes out, as over a reliable flow.
 */
export class NonInviteServerTransaction extends ServerTransactionBase {
  readonly isInvite = false;
  protected readonly table = NON_INVITE_SERVER;

  constructor(ctx: TransactionContext, key: string, request: SipRequest, flow: Flow) {
    super(ctx, key, request, flow, "Trying");
  }

  respond(response: SipResponse): void {
    this.checkStatus(response);
    const status = response.status;
    switch (this.current) {
      case "Trying":
      case "Proceeding":
        this.lastResponse = response;
        if (status < 200) {
          // §17.2.2: a provisional from the TU in Trying/Proceeding → Proceeding, sent.
          this.enter("Proceeding");
          this.send(response);
          return;
        }
        // §17.2.2: a final from the TU → Completed; Timer J = 64*T1 (0 if reliable).
        this.enter("Completed");
        if (this.flow.reliable) this.send(response);
        else {
          // Serialized once: the bytes that go out now are the ones kept for Timer J.
          const wire = response.toBytes();
          const sent = new SentResponse(status, response.reason, wire);
          // Only the bytes stay: the send's pending failure handler holds this transaction
          // until the event loop turns, and with it whatever it references.
          this.lastResponse = sent;
          this.releaseRequest();
          this.send(sent);
          this.ctx.keepCompleted(this.key, status, wire, this.flow);
        }
        this.terminate("completed");
        return;
      default:
        // §17.2.2: further responses from the TU MUST be discarded once Completed.
        if (!this.flow.reliable && this.current === "Terminated" && this.hasFinal) {
          this.ctx.log.debug(`discarding ${status} to ${this.method}: already Completed`);
          return;
        }
        return this.illegal(`respond(${status})`);
    }
  }

  receiveRequest(_request: SipRequest): "absorbed" | "to_tu" {
    // §17.2.2: in Proceeding a retransmission gets the most recent provisional again; in
    // Trying it is discarded (Completed retransmissions are the layer's, see above).
    if (this.current === "Proceeding" && this.lastResponse) this.send(this.lastResponse);
    return "absorbed";
  }

  protected cancelTimers(): void {
    // No timers of its own: Timer E/F are the client's, Timer J the layer's store.
  }
}

export type AnyServerTransaction = InviteServerTransaction | NonInviteServerTransaction;

/**
 * A copy of `text` that does not pin the string it was sliced from (V8 keeps the whole
 * parent of a sliced string alive: here, the head of a received message).
 */
function detach(text: string): string {
  return text.length < 13 ? text : (text + " ").slice(0, -1);
}
