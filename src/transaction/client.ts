/**
 * @module Client transactions (RFC 3261 §17.1): the INVITE state machine of §17.1.1 with the
 * RFC 6026 Accepted state, and the non-INVITE machine of §17.1.2. A transaction sends its
 * request, retransmits it over unreliable flows, hands responses to its TU, ACKs non-2xx
 * finals itself (§17.1.1.3) and builds CANCEL (§9.1). Matching is layer.ts's job; routing
 * decisions (where to send) belong to the TU.
 */
import { SipRequest, type SipResponse } from "../sip/message.ts";
import type { Flow, Target } from "../transport/types.ts";
import {
  type ClientTransactionState,
  INVITE_CLIENT,
  NON_INVITE_CLIENT,
  type TransactionContext,
  TransactionStateError,
  transition,
} from "./context.ts";
import type { TimerHandle } from "./timers.ts";
import { ClientFinal } from "./client_final.ts";

export type { ClientTransactionState } from "./context.ts";

export interface ClientTransaction {
  /**
   * The request sent, or undefined once released: after an INVITE's final (Accepted, or
   * Completed once the ACK is built) 64·T1 is long to hold a message with SDP; after a
   * non-INVITE's final (Completed, Timer K) nothing needs it.
   */
  readonly request: SipRequest | undefined;
  readonly isInvite: boolean;
  readonly state: ClientTransactionState;
  /** Builds and sends a CANCEL for this INVITE per §9.1 (only after a provisional response has been received; queue it otherwise). */
  cancel(extraHeaders?: [string, string][]): void;
}

export interface ClientHandlers {
  /** Every response incl. 1xx and each 2xx retransmission for INVITE. */
  onResponse(response: SipResponse, flow: Flow): void;
  /** Timer B / F fired (caller synthesizes 408). */
  onTimeout(): void;
  onTransportError(error: Error): void;
}

/** What a client transaction needs beyond the shared context: a way to start a CANCEL. */
export interface ClientContext extends TransactionContext {
  sendCancel(cancel: SipRequest, target: Target): void;
}

/** Transport names whose flows are reliable (no retransmissions, §17.1.1.2). */
function isReliable(target: Target): boolean {
  return "flow" in target ? target.flow.reliable : target.transport !== "udp";
}

abstract class ClientTransactionBase implements ClientTransaction {
  readonly side = "client" as const;
  readonly key: string;
  /** Undefined once released (see `request`). */
  #request: SipRequest | undefined;
  readonly #method: string;
  readonly target: Target;
  abstract readonly isInvite: boolean;
  protected readonly ctx: ClientContext;
  protected readonly handlers: ClientHandlers;
  protected readonly reliable: boolean;
  protected current: ClientTransactionState;
  /** The flow the transport reported for the first send; retransmissions reuse it. */
  flow: Flow | undefined;
  /** Timer A (INVITE) / E (non-INVITE): request retransmission, and its current interval. */
  #retransmit: TimerHandle | undefined;
  #interval = 0;
  /** Timer B / F: the transaction timeout. */
  #timeoutTimer: TimerHandle | undefined;
  /** Everything after the final response (Timer D, M or K), when anything is left. */
  #final: ClientFinal | undefined;

  constructor(
    ctx: ClientContext,
    key: string,
    request: SipRequest,
    target: Target,
    handlers: ClientHandlers,
  ) {
    this.ctx = ctx;
    this.key = key;
    this.#request = request;
    this.#method = request.method;
    this.target = target;
    this.handlers = handlers;
    this.reliable = isReliable(target);
    this.current = this.initialState();
    if ("flow" in target) this.flow = target.flow;
  }

  get state(): ClientTransactionState {
    return this.#final?.state ?? this.current;
  }

  get request(): SipRequest | undefined {
    return this.#request;
  }

  /** The request, in a state that still holds it (a bug to ask later: throws). */
  protected get heldRequest(): SipRequest {
    const request = this.#request;
    if (request) return request;
    throw new TransactionStateError(
      `${this.#method} client transaction: request released in state ${this.current}`,
    );
  }

  protected get method(): string {
    return this.#method;
  }

  /** The RFC table of this machine; `enter` is the only way to change state. */
  protected abstract readonly table: typeof INVITE_CLIENT;

  protected enter(state: ClientTransactionState): void {
    this.current = transition(this.#method, "client", this.table, this.current, state);
  }

  protected releaseRequest(): void {
    this.#request = undefined;
  }

  /** Calling (INVITE, §17.1.1.2) or Trying (non-INVITE, §17.1.2.2). */
  protected abstract initialState(): ClientTransactionState;
  abstract receiveResponse(response: SipResponse, flow: Flow): void;
  abstract cancel(extraHeaders?: [string, string][]): void;
  /**
   * States in which no final has arrived yet: the request is retransmitted (A / E), may
   * time out (B / F) and a transport failure ends the transaction (§17.1.4).
   */
  protected abstract awaitingFinal(): boolean;
  /** The first retransmission interval (A / E) and the timeout (B / F). */
  protected abstract firstTimers(): { retransmit: number; timeout: number };
  /** The retransmission interval after `previous` has elapsed. */
  protected abstract nextInterval(previous: number): number;

  /** §17.1.1.2 / §17.1.2.2: send the request; A / E = T1 on unreliable flows; B / F = 64*T1. */
  start(): void {
    this.sendRequest();
    const { retransmit, timeout } = this.firstTimers();
    if (!this.reliable) {
      this.#interval = retransmit;
      this.#retransmit = this.schedule(retransmit, () => this.#onRetransmit());
    }
    this.#timeoutTimer = this.schedule(timeout, () => this.#onTimeout());
  }

  #onRetransmit(): void {
    this.#retransmit = undefined;
    if (!this.awaitingFinal()) return;
    this.sendRequest();
    this.#interval = this.nextInterval(this.#interval);
    this.#retransmit = this.schedule(this.#interval, () => this.#onRetransmit());
  }

  #onTimeout(): void {
    this.#timeoutTimer = undefined;
    // Timer B / F fires before a final → Terminated; the TU is told of the timeout.
    if (this.awaitingFinal()) this.timeout();
  }

  /** Stops retransmitting and the timeout (A and B, or E and F). */
  protected stopRetransmitting(): void {
    this.ctx.scheduler.cancel(this.#retransmit);
    this.ctx.scheduler.cancel(this.#timeoutTimer);
    this.#retransmit = this.#timeoutTimer = undefined;
  }

  /**
   * The final arrived: `rest` (what is left, with its Timer D, M or K) takes this
   * transaction's place in the layer's table; later calls go to it.
   */
  protected finish(rest: ClientFinal): void {
    this.#final = rest;
    this.ctx.replace(this, rest);
  }

  /** The receiveResponse of what is left after the final; false before it. */
  protected passedOn(response: SipResponse, flow: Flow): boolean {
    if (this.#final === undefined) return false;
    this.#final.receiveResponse(response, flow);
    return true;
  }

  protected cancelTimers(): void {
    this.stopRetransmitting();
  }

  protected get sendTarget(): Target {
    return this.flow ? { flow: this.flow } : this.target;
  }

  /** Sends (or retransmits) the request; a failure is a transport error (§17.1.4). */
  protected sendRequest(): void {
    this.ctx.sender.send(this.heldRequest, this.sendTarget).then(
      (flow) => {
        this.flow ??= flow;
      },
      (error) => {
        if (this.current === "Terminated" || !this.awaitingFinal()) return;
        this.terminate();
        const err = error instanceof Error ? error : new Error(String(error));
        this.ctx.guard("onTransportError", () => this.handlers.onTransportError(err));
      },
    );
  }

  protected toTu(response: SipResponse, flow: Flow): void {
    this.ctx.guard("onResponse", () => this.handlers.onResponse(response, flow));
  }

  protected timeout(): void {
    this.terminate();
    this.ctx.guard("onTimeout", () => this.handlers.onTimeout());
  }

  protected schedule(delay: number, fn: () => void): TimerHandle {
    return this.ctx.scheduler.schedule(delay, fn);
  }

  terminate(): void {
    if (this.#final) return this.#final.terminate();
    if (this.current === "Terminated") return;
    this.enter("Terminated");
    this.cancelTimers();
    this.ctx.forget(this);
  }

  /** Shutdown: silent end, no callbacks. */
  abort(): void {
    if (this.#final) return this.#final.abort();
    if (this.current !== "Terminated") this.enter("Terminated");
    this.cancelTimers();
  }
}

/** RFC 3261 §17.1.1 INVITE client transaction, updated by RFC 6026 §7.2 (Accepted). */
export class InviteClientTransaction extends ClientTransactionBase {
  readonly isInvite = true;
  protected readonly table = INVITE_CLIENT;
  /** Extra headers of a CANCEL asked for before any provisional arrived (§9.1). */
  #pendingCancel: [string, string][] | undefined;
  #cancelSent = false;

  protected initialState(): ClientTransactionState {
    return "Calling";
  }

  receiveResponse(response: SipResponse, flow: Flow): void {
    if (this.passedOn(response, flow)) return;
    const status = response.status;
    switch (this.current) {
      case "Calling":
      case "Proceeding":
        if (status < 200) {
          // §17.1.1.2: a provisional in Calling → Proceeding, no more retransmissions;
          // every provisional goes to the TU.
          if (this.current === "Calling") {
            this.enter("Proceeding");
            this.stopRetransmitting();
          }
          this.toTu(response, flow);
          if (this.#pendingCancel !== undefined) this.#sendCancel(this.#pendingCancel);
        } else if (status < 300) {
          // RFC 6026 §7.2: a 2xx in Calling/Proceeding → Accepted (Timer M), to the TU.
          this.enter("Accepted");
          this.stopRetransmitting();
          this.#pendingCancel = undefined;
          this.releaseRequest();
          this.finish(ClientFinal.accepted(this.ctx, this.key, this.handlers));
          this.toTu(response, flow);
        } else {
          // §17.1.1.2: a 300-699 → Completed: ACK it (§17.1.1.3), to the TU, Timer D
          // (0 on reliable flows). Only the ACK's bytes stay, for retransmitted finals.
          this.enter("Completed");
          this.stopRetransmitting();
          this.#pendingCancel = undefined;
          const ack = buildAck(this.heldRequest, response).toBytes().slice();
          this.releaseRequest();
          const to = this.sendTarget;
          ClientFinal.sendAck(this.ctx, ack, to);
          this.toTu(response, flow);
          if (this.reliable) this.terminate();
          else this.finish(ClientFinal.acked(this.ctx, this.key, ack, to));
        }
        return;
      default:
        return;
    }
  }

  cancel(extraHeaders: [string, string][] = []): void {
    if (this.#cancelSent || this.#pendingCancel !== undefined) return;
    switch (this.current) {
      case "Calling":
        // §9.1: no provisional yet: the CANCEL MUST wait for one.
        this.#pendingCancel = extraHeaders;
        return;
      case "Proceeding":
        this.#sendCancel(extraHeaders);
        return;
      default:
        // §9.1: a final response already arrived: the CANCEL SHOULD NOT be sent.
        return;
    }
  }

  #sendCancel(extraHeaders: [string, string][]): void {
    this.#pendingCancel = undefined;
    this.#cancelSent = true;
    // §9.1: the CANCEL goes to the same destination as the INVITE.
    this.ctx.sendCancel(buildCancel(this.heldRequest, extraHeaders), this.sendTarget);
  }

  protected awaitingFinal(): boolean {
    // §17.1.1.2: A retransmits and B times out only in Calling (a provisional stops both);
    // a transport error in Calling → Terminated, the TU is informed.
    return this.current === "Calling";
  }

  protected firstTimers(): { retransmit: number; timeout: number } {
    return { retransmit: this.ctx.timers.a, timeout: this.ctx.timers.b };
  }

  protected nextInterval(previous: number): number {
    // §17.1.1.2: Timer A doubles (no cap).
    return previous * 2;
  }
}

/** RFC 3261 §17.1.2 non-INVITE client transaction. */
export class NonInviteClientTransaction extends ClientTransactionBase {
  readonly isInvite = false;
  protected readonly table = NON_INVITE_CLIENT;

  protected initialState(): ClientTransactionState {
    return "Trying";
  }

  receiveResponse(response: SipResponse, flow: Flow): void {
    if (this.passedOn(response, flow)) return;
    const status = response.status;
    switch (this.current) {
      case "Trying":
      case "Proceeding":
        if (status < 200) {
          // §17.1.2.2: a provisional → Proceeding, to the TU.
          this.enter("Proceeding");
          this.toTu(response, flow);
          return;
        }
        // §17.1.2.2: a final in Trying/Proceeding → Completed, to the TU; Timer K = T4
        // (0 on reliable flows).
        this.enter("Completed");
        this.stopRetransmitting();
        this.releaseRequest(); // Completed only absorbs retransmitted responses
        if (!this.reliable) this.finish(ClientFinal.completed(this.ctx, this.key));
        this.toTu(response, flow);
        if (this.reliable) this.terminate();
        return;
      default:
        // §17.1.2.2: Completed absorbs response retransmissions.
        return;
    }
  }

  cancel(): void {
    throw new TransactionStateError(`cannot CANCEL a ${this.method} (§9.1: INVITE only)`);
  }

  protected awaitingFinal(): boolean {
    // §17.1.2.2: E retransmits, F times out and a transport error ends the transaction
    // (the TU informed) in Trying/Proceeding.
    return this.current === "Trying" || this.current === "Proceeding";
  }

  protected firstTimers(): { retransmit: number; timeout: number } {
    return { retransmit: this.ctx.timers.e, timeout: this.ctx.timers.f };
  }

  protected nextInterval(previous: number): number {
    // §17.1.2.2: in Trying E = min(2E, T2), in Proceeding E = T2.
    return this.current === "Trying"
      ? Math.min(2 * previous, this.ctx.timers.t2)
      : this.ctx.timers.t2;
  }
}

export type AnyClientTransaction = InviteClientTransaction | NonInviteClientTransaction;

/** Copies every raw value of a header, in order. */
function copyHeader(from: SipRequest | SipResponse, to: SipRequest, name: string): void {
  const key = name.toLowerCase();
  for (const h of from.headers) if (h.key === key) to.headers.push({ ...h });
}

/** §17.1.1.3: the ACK for a non-2xx final, built by the client transaction. */
export function buildAck(request: SipRequest, response: SipResponse): SipRequest {
  const ack = new SipRequest("ACK", request.uri);
  // Only the top Via of the original request (same branch).
  ack.append("Via", request.getAll("via")[0]);
  copyHeader(request, ack, "route");
  ack.append("Max-Forwards", "70");
  copyHeader(request, ack, "from");
  // To: the To of the response being acknowledged (it carries the tag).
  copyHeader(response, ack, "to");
  copyHeader(request, ack, "call-id");
  ack.append("CSeq", `${request.cseq.seq} ACK`);
  return ack;
}

/** §9.1: a CANCEL for `request`: same Request-URI, Call-ID, To, From, CSeq number, top Via. */
export function buildCancel(
  request: SipRequest,
  extraHeaders: [string, string][] = [],
): SipRequest {
  const cancel = new SipRequest("CANCEL", request.uri);
  cancel.append("Via", request.getAll("via")[0]);
  copyHeader(request, cancel, "route");
  cancel.append("Max-Forwards", "70");
  copyHeader(request, cancel, "from");
  copyHeader(request, cancel, "to");
  copyHeader(request, cancel, "call-id");
  cancel.append("CSeq", `${request.cseq.seq} CANCEL`);
  for (const [name, value] of extraHeaders) cancel.append(name, value);
  return cancel;
}
