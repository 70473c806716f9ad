/**
 * @module Client transactions (RFC 3261 §17.1): the INVITE state machine of §17.1.1 with the
 * RFC 6026 Accepted state, and the non-INVITE machine of §17.1.2. A transaction sends its
 * request, retransmits it over unreliable flows, hands responses to its TU, ACKs non-2xx
 * finals itself (§17.1.1.3) and builds CANCEL (§9.1). Matching is layer.ts's job; routing
 * decisions (where to send) belong to the TU.
 */
import { SipRequest, type SipResponse } from "../sip/message.ts";
import type { Flow, Target } from "../transport/types.ts";
import { type TransactionContext, TransactionStateError } from "./server.ts";
import type { TimerHandle } from "./timers.ts";

export type ClientTransactionState =
  | "Calling"
  | "Trying"
  | "Proceeding"
  | "Completed"
  | "Accepted"
  | "Terminated";

export interface ClientTransaction {
  readonly request: SipRequest;
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
  /** Undefined once released; `request` then rebuilds a method-only stub on demand. */
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

  constructor(
    ctx: ClientContext,
    key: string,
    request: SipRequest,
    target: Target,
    handlers: ClientHandlers,
    initial: ClientTransactionState,
  ) {
    this.ctx = ctx;
    this.key = key;
    this.#request = request;
    this.#method = request.method;
    this.target = target;
    this.handlers = handlers;
    this.reliable = isReliable(target);
    this.current = initial;
    if ("flow" in target) this.flow = target.flow;
  }

  get state(): ClientTransactionState {
    return this.current;
  }

  /**
   * The request sent. After an INVITE's final response (Accepted, or Completed once the
   * ACK is built) only its method is kept: 64·T1 is long to hold a message with SDP.
   */
  get request(): SipRequest {
    return this.#request ??= new SipRequest(this.#method, "");
  }

  protected releaseRequest(): void {
    this.#request = undefined;
  }

  abstract start(): void;
  abstract receiveResponse(response: SipResponse, flow: Flow): void;
  abstract cancel(extraHeaders?: [string, string][]): void;
  protected abstract cancelTimers(): void;
  /** States in which a transport failure ends the transaction (§17.1.4). */
  protected abstract failsOnTransportError(): boolean;

  protected get sendTarget(): Target {
    return this.flow ? { flow: this.flow } : this.target;
  }

  /** Sends (or retransmits) the request; a failure is a transport error (§17.1.4). */
  protected sendRequest(): void {
    this.ctx.sender.send(this.request, this.sendTarget).then(
      (flow) => {
        this.flow ??= flow;
      },
      (error) => {
        if (this.current === "Terminated" || !this.failsOnTransportError()) return;
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
    if (this.current === "Terminated") return;
    this.current = "Terminated";
    this.cancelTimers();
    this.ctx.forget(this);
  }

  /** Shutdown: silent end, no callbacks. */
  abort(): void {
    this.current = "Terminated";
    this.cancelTimers();
  }
}

/** RFC 3261 §17.1.1 INVITE client transaction, updated by RFC 6026 §7.2 (Accepted). */
export class InviteClientTransaction extends ClientTransactionBase {
  readonly isInvite = true;
  #timerA: TimerHandle | undefined;
  #intervalA = 0;
  #timerB: TimerHandle | undefined;
  #timerD: TimerHandle | undefined;
  #timerM: TimerHandle | undefined;
  #ack: SipRequest | undefined;
  /** Extra headers of a CANCEL asked for before any provisional arrived (§9.1). */
  #pendingCancel: [string, string][] | undefined;
  #cancelSent = false;

  constructor(
    ctx: ClientContext,
    key: string,
    request: SipRequest,
    target: Target,
    handlers: ClientHandlers,
  ) {
    super(ctx, key, request, target, handlers, "Calling");
  }

  start(): void {
    // §17.1.1.2: send the INVITE; Timer A = T1 on unreliable flows; Timer B = 64*T1.
    this.sendRequest();
    if (!this.reliable) {
      this.#intervalA = this.ctx.timers.a;
      this.#timerA = this.schedule(this.#intervalA, () => this.#onTimerA());
    }
    this.#timerB = this.schedule(this.ctx.timers.b, () => this.#onTimerB());
  }

  receiveResponse(response: SipResponse, flow: Flow): void {
    const status = response.status;
    switch (this.current) {
      case "Calling":
      case "Proceeding":
        if (status < 200) {
          // §17.1.1.2: a provisional in Calling → Proceeding, no more retransmissions;
          // every provisional goes to the TU.
          if (this.current === "Calling") {
            this.current = "Proceeding";
            this.#stopCalling();
          }
          this.toTu(response, flow);
          if (this.#pendingCancel !== undefined) this.#sendCancel(this.#pendingCancel);
        } else if (status < 300) {
          // RFC 6026 §7.2: a 2xx in Calling/Proceeding → Accepted (Timer M), to the TU.
          this.current = "Accepted";
          this.#stopCalling();
          this.#pendingCancel = undefined;
          this.#timerM = this.schedule(this.ctx.timers.m, () => this.#onTimerM());
          this.releaseRequest();
          this.toTu(response, flow);
        } else {
          // §17.1.1.2: a 300-699 → Completed: ACK it (§17.1.1.3), to the TU, Timer D
          // (0 on reliable flows).
          this.current = "Completed";
          this.#stopCalling();
          this.#pendingCancel = undefined;
          this.#ack = buildAck(this.request, response);
          this.releaseRequest();
          this.#sendAck();
          this.toTu(response, flow);
          if (this.reliable) this.terminate();
          else this.#timerD = this.schedule(this.ctx.timers.d, () => this.#onTimerD());
        }
        return;
      case "Completed":
        // §17.1.1.2: a retransmitted final in Completed re-sends the ACK, not to the TU.
        if (status >= 300) this.#sendAck();
        return;
      case "Accepted":
        // RFC 6026 §7.2: every 2xx in Accepted goes to the TU (retransmissions, forks).
        if (status >= 200 && status < 300) this.toTu(response, flow);
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
    this.ctx.sendCancel(buildCancel(this.request, extraHeaders), this.sendTarget);
  }

  #sendAck(): void {
    if (!this.#ack) return;
    this.ctx.sender.send(this.#ack, this.sendTarget).catch((error) => {
      this.ctx.log.debug(`ACK send failed: ${error}`);
    });
  }

  #stopCalling(): void {
    this.ctx.scheduler.cancel(this.#timerA);
    this.ctx.scheduler.cancel(this.#timerB);
    this.#timerA = this.#timerB = undefined;
  }

  #onTimerA(): void {
    this.#timerA = undefined;
    if (this.current !== "Calling") return;
    // §17.1.1.2: Timer A fires in Calling → retransmit, A doubles (no cap).
    this.sendRequest();
    this.#intervalA *= 2;
    this.#timerA = this.schedule(this.#intervalA, () => this.#onTimerA());
  }

  #onTimerB(): void {
    this.#timerB = undefined;
    // §17.1.1.2: Timer B fires in Calling → Terminated; the TU is told of the timeout.
    if (this.current === "Calling") this.timeout();
  }

  #onTimerD(): void {
    this.#timerD = undefined;
    // §17.1.1.2: Timer D fires in Completed → Terminated.
    if (this.current === "Completed") this.terminate();
  }

  #onTimerM(): void {
    this.#timerM = undefined;
    // RFC 6026 §7.2: Timer M fires in Accepted → Terminated.
    if (this.current === "Accepted") this.terminate();
  }

  protected failsOnTransportError(): boolean {
    // §17.1.1.2: a transport error in Calling → Terminated, the TU is informed.
    return this.current === "Calling";
  }

  protected cancelTimers(): void {
    const s = this.ctx.scheduler;
    s.cancel(this.#timerA);
    s.cancel(this.#timerB);
    s.cancel(this.#timerD);
    s.cancel(this.#timerM);
    this.#timerA =
      this.#timerB =
      this.#timerD =
      this.#timerM =
        undefined;
  }
}

/** RFC 3261 §17.1.2 non-INVITE client transaction. */
export class NonInviteClientTransaction extends ClientTransactionBase {
  readonly isInvite = false;
  #timerE: TimerHandle | undefined;
  #intervalE = 0;
  #timerF: TimerHandle | undefined;
  #timerK: TimerHandle | undefined;

  constructor(
    ctx: ClientContext,
    key: string,
    request: SipRequest,
    target: Target,
    handlers: ClientHandlers,
  ) {
    super(ctx, key, request, target, handlers, "Trying");
  }

  start(): void {
    // §17.1.2.2: send the request; Timer E = T1 on unreliable flows; Timer F = 64*T1.
    this.sendRequest();
    if (!this.reliable) {
      this.#intervalE = this.ctx.timers.e;
      this.#timerE = this.schedule(this.#intervalE, () => this.#onTimerE());
    }
    this.#timerF = this.schedule(this.ctx.timers.f, () => this.#onTimerF());
  }

  receiveResponse(response: SipResponse, flow: Flow): void {
    const status = response.status;
    switch (this.current) {
      case "Trying":
      case "Proceeding":
        if (status < 200) {
          // §17.1.2.2: a provisional → Proceeding, to the TU.
          this.current = "Proceeding";
          this.toTu(response, flow);
          return;
        }
        // §17.1.2.2: a final in Trying/Proceeding → Completed, to the TU; Timer K = T4
        // (0 on reliable flows).
        this.current = "Completed";
        this.ctx.scheduler.cancel(this.#timerE);
        this.ctx.scheduler.cancel(this.#timerF);
        this.#timerE = this.#timerF = undefined;
        this.toTu(response, flow);
        if (this.reliable) this.terminate();
        else this.#timerK = this.schedule(this.ctx.timers.k, () => this.#onTimerK());
        return;
      default:
        // §17.1.2.2: Completed absorbs response retransmissions.
        return;
    }
  }

  cancel(): void {
    throw new TransactionStateError(`cannot CANCEL a ${this.request.method} (§9.1: INVITE only)`);
  }

  #onTimerE(): void {
    this.#timerE = undefined;
    if (this.current !== "Trying" && this.current !== "Proceeding") return;
    // §17.1.2.2: Timer E fires → retransmit; in Trying E = min(2E, T2), in Proceeding E = T2.
    this.sendRequest();
    this.#intervalE = this.current === "Trying"
      ? Math.min(2 * this.#intervalE, this.ctx.timers.t2)
      : this.ctx.timers.t2;
    this.#timerE = this.schedule(this.#intervalE, () => this.#onTimerE());
  }

  #onTimerF(): void {
    this.#timerF = undefined;
    // §17.1.2.2: Timer F fires in Trying/Proceeding → Terminated; the TU is told.
    if (this.current === "Trying" || this.current === "Proceeding") this.timeout();
  }

  #onTimerK(): void {
    this.#timerK = undefined;
    // §17.1.2.2: Timer K fires in Completed → Terminated.
    if (this.current === "Completed") this.terminate();
  }

  protected failsOnTransportError(): boolean {
    // §17.1.2.2: a transport error in Trying/Proceeding → Terminated, the TU is informed.
    return this.current === "Trying" || this.current === "Proceeding";
  }

  protected cancelTimers(): void {
    const s = this.ctx.scheduler;
    s.cancel(this.#timerE);
    s.cancel(this.#timerF);
    s.cancel(this.#timerK);
    this.#timerE = this.#timerF = this.#timerK = undefined;
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
