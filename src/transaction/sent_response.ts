/**
 * @module A response already sent, kept only as its bytes: all that answering a request
 * retransmission needs (RFC 3261 §17.2.1/§17.2.2), so kept state does not pin the parsed
 * header lists.
 */
import { SipResponse } from "../sip/message.ts";

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
