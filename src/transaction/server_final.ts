/**
 * @module What an INVITE server transaction keeps once its final response went out (RFC 3261
 * §17.2.1 Completed and Confirmed, RFC 6026 §7.1 Accepted), for the 64·T1 of Timer L or H:
 * the key, the flow, the To tags that ACK and CANCEL matching need and, for a non-2xx until
 * its ACK, a copy of that response's bytes for Timer G and request retransmissions. No
 * request, no response object, no timer of its own for L, H or I (the layer's
 * `LingerQueue`s time them). The transaction object the TU holds hands every later call here.
 */
import type { SipRequest, SipResponse } from "../sip/message.ts";
import type { Flow } from "../transport/types.ts";
import { type TransactionContext, TransactionStateError } from "./context.ts";
import type { Lingering } from "./linger.ts";
import type { TerminationReason } from "./server.ts";
import type { TimerHandle } from "./timers.ts";
import { SentResponse } from "./sent_response.ts";

export type FinalServerState = "Accepted" | "Completed" | "Confirmed" | "Terminated";

export class InviteServerFinal implements Lingering {
  readonly key: string;
  readonly flow: Flow;
  #state: FinalServerState;
  /** To tag of the final, for RFC 2543 ACK matching (§17.2.3); "" under an RFC 3261 key. */
  readonly responseToTag: string;
  /** To tag of the INVITE itself ("" for an initial INVITE), for answering a CANCEL. */
  readonly requestToTag: string;
  readonly #ctx: TransactionContext;
  /** The non-2xx final as sent (a copy: a view would keep its whole slab), until the ACK. */
  #final: SentResponse | undefined;
  /** Timer G, for a non-2xx over an unreliable flow (its interval rides in its callback). */
  #timerG: TimerHandle | undefined;
  /** The TU's callback, if it set one before the final. */
  readonly #onTerminated: ((reason: TerminationReason) => void) | undefined;

  /**
   * Takes over after `final` was decided (`final` undefined: a 2xx, Accepted); the caller
   * sends the first copy. Starts Timer G (unreliable non-2xx) and L or H.
   */
  constructor(
    ctx: TransactionContext,
    key: string,
    flow: Flow,
    tags: { response: string; request: string },
    final: SentResponse | undefined,
    onTerminated: ((reason: TerminationReason) => void) | undefined,
  ) {
    this.#ctx = ctx;
    this.key = key;
    this.flow = flow;
    this.responseToTag = tags.response;
    this.requestToTag = tags.request;
    this.#final = final;
    this.#onTerminated = onTerminated;
    if (final === undefined) {
      // RFC 6026 §7.1: a 2xx moves Proceeding → Accepted and starts Timer L.
      this.#state = "Accepted";
      ctx.linger.l.add(this);
      return;
    }
    // §17.2.1: a 300-699 moves Proceeding → Completed; Timer G (unreliable) and H.
    this.#state = "Completed";
    if (!flow.reliable) this.#scheduleG(ctx.timers.g);
    ctx.linger.h.add(this);
  }

  get side(): "server" {
    return "server";
  }

  get isInvite(): true {
    return true;
  }

  get state(): FinalServerState {
    return this.#state;
  }

  /** A CANCEL after the final has no effect (§9.2): nothing listens. */
  get cancelled(): true {
    return true;
  }

  get onCancel(): undefined {
    return undefined;
  }

  respond(response: SipResponse): void {
    // RFC 6026 §7.1: 2xx retransmissions from the TU pass through to the transport in
    // Accepted; Completed, Confirmed, Terminated let the TU send nothing more.
    if (this.#state === "Accepted" && response.status >= 200 && response.status < 300) {
      this.#send(response);
      return;
    }
    throw new TransactionStateError(
      `INVITE server transaction: respond(${response.status}) in state ${this.#state}`,
    );
  }

  receiveRequest(request: SipRequest): "absorbed" | "to_tu" {
    if (request.method !== "ACK") {
      // §17.2.1: a retransmitted INVITE gets the final again in Completed; RFC 6026 §7.1:
      // Accepted absorbs it; so do Confirmed and Terminated.
      if (this.#state === "Completed" && this.#final) this.#send(this.#final);
      return "absorbed";
    }
    switch (this.#state) {
      case "Completed":
        // §17.2.1: ACK in Completed → Confirmed; stop G, H; Timer I = T4 (0 if reliable).
        this.#state = "Confirmed";
        this.#final = undefined;
        this.#ctx.scheduler.cancel(this.#timerG);
        this.#timerG = undefined;
        if (this.flow.reliable) this.terminate("completed");
        else this.#ctx.linger.i.add(this);
        return "absorbed";
      case "Accepted":
        // RFC 6026 §7.1: an ACK matching the transaction in Accepted goes to the TU.
        return "to_tu";
      default:
        return "absorbed";
    }
  }

  lingerEnded(state: string): void {
    if (this.#state !== state) return;
    // §17.2.1: Timer H in Completed → Terminated, the ACK never came (the TU is told);
    // Timer I in Confirmed, RFC 6026 Timer L in Accepted → Terminated.
    this.terminate(state === "Completed" ? "timeout" : "completed");
  }

  #scheduleG(interval: number): void {
    this.#timerG = this.#ctx.scheduler.schedule(interval, () => this.#onTimerG(interval));
  }

  #onTimerG(interval: number): void {
    this.#timerG = undefined;
    const final = this.#final;
    if (this.#state !== "Completed" || !final) return;
    // §17.2.1: Timer G fires → retransmit the final, G = min(2G, T2).
    this.#send(final);
    this.#scheduleG(Math.min(2 * interval, this.#ctx.timers.t2));
  }

  #send(response: SipResponse): void {
    this.#ctx.sender.send(response, { flow: this.flow }).catch((error) => {
      // §17.2.4: a failure sending a response informs the TU and terminates the transaction.
      if (this.#state === "Terminated") return;
      this.#ctx.log.debug(`response send failed on ${this.flow.id}: ${error}`);
      this.terminate("transport_error");
    });
  }

  terminate(reason: TerminationReason): void {
    if (this.#state === "Terminated") return;
    this.abort();
    this.#ctx.forget(this);
    const cb = this.#onTerminated;
    if (cb) this.#ctx.guard("onTerminated", () => cb(reason));
  }

  /** Shutdown: silent end, no callbacks. */
  abort(): void {
    this.#state = "Terminated";
    this.#final = undefined;
    this.#ctx.scheduler.cancel(this.#timerG);
    this.#timerG = undefined;
  }
}
