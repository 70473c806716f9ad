/**
 * @module A message already sent, kept only as its bytes: all that answering a request
 * retransmission (RFC 3261 §17.2.1/§17.2.2) or a retransmitted non-2xx final (the ACK,
 * §17.1.1.2) needs, so kept state does not pin the parsed header lists.
 */
import { SipRequest, SipResponse } from "../sip/message.ts";

export class SentResponse extends SipResponse {
  readonly #wire: Uint8Array;
  constructor(status: number, reason: string, wire: Uint8Array) {
    super(status, reason);
    this.#wire = wire;
  }
  override toBytes(): Uint8Array {
    return this.#wire;
  }
}

/** A request already serialized (an ACK a client transaction sends again): only its bytes. */
export class SentRequest extends SipRequest {
  readonly #wire: Uint8Array;
  constructor(method: string, wire: Uint8Array) {
    super(method, "");
    this.#wire = wire;
  }
  override toBytes(): Uint8Array {
    return this.#wire;
  }
}
