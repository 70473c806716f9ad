/**
 * @module Typed errors of the SIP layer. `SipParseError` means the bytes are not a SIP
 * message we accept (its reason and status, 400 or 505, answer it statelessly); `SipError` is a failure
 * with a SIP status that the core turns into a response.
 */

export class SipParseError extends Error {
  /** Short reason suitable for a reason phrase, e.g. "Bad CSeq". */
  readonly reason: string;
  /** The status a stateless answer carries: 400, or e.g. 505 for an unknown version. */
  readonly status: number;
  constructor(reason: string, detail?: string, status = 400) {
    super(detail ? `${reason}: ${detail}` : reason);
    this.name = "SipParseError";
    this.reason = reason;
    this.status = status;
  }
}

export class SipError extends Error {
  readonly status: number;
  readonly reason: string;
  /** Extra headers for the response (e.g. Min-Expires with 423). */
  readonly headers: [string, string][];
  constructor(status: number, reason: string, headers: [string, string][] = []) {
    super(`${status} ${reason}`);
    this.name = "SipError";
    this.status = status;
    this.reason = reason;
    this.headers = headers;
  }
}
