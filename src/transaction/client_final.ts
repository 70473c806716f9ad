/**
 * @module What a client transaction keeps once its final response arrived, for Timer M, D or
 * K: the key and, by state, the TU's handlers (INVITE Accepted, RFC 6026 §7.2: every 2xx
 * still goes up), the bytes of the ACK and where they went (INVITE Completed, §17.1.1.2: a
 * retransmitted final is ACKed again) or nothing (non-INVITE Completed, §17.1.2.2: response
 * retransmissions are absorbed). No request, no response, no timer of its own (the layer's
 * `LingerQueue`s time them). The transaction object the TU holds hands every later call here.
 */
import type { SipResponse } from "../sip/message.ts";
import type { Flow, Target } from "../transport/types.ts";
import type { ClientHandlers } from "./client.ts";
import type { TransactionContext } from "./context.ts";
import type { Lingering } from "./linger.ts";
import { SentRequest } from "./sent_response.ts";

export type FinalClientState = "Accepted" | "Completed" | "Terminated";

/** The ACK of a non-2xx and where it went, for a retransmitted final (Timer D). */
interface SentAck {
  readonly ack: Uint8Array;
  readonly to: Target;
}

export class ClientFinal implements Lingering {
  readonly key: string;
  #state: FinalClientState;
  readonly #ctx: TransactionContext;
  /**
   * By state, in one field (a record lingers for 64·T1 per call): INVITE Accepted, where
   * later 2xx go; INVITE Completed, the ACK as sent (a copy: a view would keep its whole
   * slab) and to where; non-INVITE Completed, nothing.
   */
  #kept: ClientHandlers | SentAck | undefined;

  private constructor(ctx: TransactionContext, key: string, state: FinalClientState) {
    this.#ctx = ctx;
    this.key = key;
    this.#state = state;
  }

  /** RFC 6026 §7.2: an INVITE's 2xx → Accepted until Timer M; later 2xx go to `handlers`. */
  static accepted(ctx: TransactionContext, key: string, handlers: ClientHandlers): ClientFinal {
    const rest = new ClientFinal(ctx, key, "Accepted");
    rest.#kept = handlers;
    ctx.linger.m.add(rest);
    return rest;
  }

  /** §17.1.1.2: an INVITE's non-2xx over an unreliable flow → Completed until Timer D. */
  static acked(ctx: TransactionContext, key: string, ack: Uint8Array, to: Target): ClientFinal {
    const rest = new ClientFinal(ctx, key, "Completed");
    rest.#kept = { ack, to } satisfies SentAck;
    ctx.linger.d.add(rest);
    return rest;
  }

  /** §17.1.2.2: a non-INVITE's final over an unreliable flow → Completed until Timer K. */
  static completed(ctx: TransactionContext, key: string): ClientFinal {
    const rest = new ClientFinal(ctx, key, "Completed");
    ctx.linger.k.add(rest);
    return rest;
  }

  /** Sends the ACK bytes (again); a failure is only logged. */
  static sendAck(ctx: TransactionContext, ack: Uint8Array, to: Target): void {
    ctx.sender.send(new SentRequest("ACK", ack), to).catch((error) => {
      ctx.log.debug(`ACK send failed: ${error}`);
    });
  }

  get side(): "client" {
    return "client";
  }

  get state(): FinalClientState {
    return this.#state;
  }

  receiveResponse(response: SipResponse, flow: Flow): void {
    const status = response.status;
    if (this.#state === "Accepted") {
      // RFC 6026 §7.2: every 2xx in Accepted goes to the TU (retransmissions, forks).
      const handlers = this.#kept as ClientHandlers;
      if (status >= 200 && status < 300) {
        this.#ctx.guard("onResponse", () => handlers.onResponse(response, flow));
      }
    } else if (this.#state === "Completed" && this.#kept && status >= 300) {
      // §17.1.1.2: a retransmitted final in Completed re-sends the ACK, not to the TU.
      const { ack, to } = this.#kept as SentAck;
      ClientFinal.sendAck(this.#ctx, ack, to);
    }
    // §17.1.2.2: a non-INVITE's Completed absorbs response retransmissions.
  }

  lingerEnded(state: string): void {
    if (this.#state === state) this.terminate();
  }

  terminate(): void {
    if (this.#state === "Terminated") return;
    this.abort();
    this.#ctx.forget(this);
  }

  /** Shutdown: silent end. */
  abort(): void {
    this.#state = "Terminated";
    this.#kept = undefined;
  }
}
