/**
 * @module What an originate request (`POST /dialog/invite`, after the API checked its
 * shapes) asks for, and the caller identity it puts in the INVITE: From from the caller
 * id, or for a private caller an anonymous From with `Privacy: id` and the identity in
 * `P-Asserted-Identity` (RFC 3323, RFC 3325). No I/O, no state.
 */
import { quote } from "../../sip/params.ts";
import { formatHost } from "../../sip/uri.ts";

/** `POST /dialog/invite` after the API checked the shapes. */
export interface OriginateRequest {
  domain: string;
  to: string;
  from?: string;
  maxForwards?: number;
  callerId?: { number?: string; name?: string; private?: boolean };
  control?: string;
  sdp?: string;
  headers?: [string, string][];
  /** Seconds of ringing before CANCEL (default 60). */
  timeout?: number;
}

/** From, and for a private caller Privacy + P-Asserted-Identity (RFC 3323, RFC 3325). */
export function callerHeaders(req: OriginateRequest, domain: string) {
  const number = req.callerId?.number ?? req.from ?? "sipws";
  const name = req.callerId?.name;
  const identity = `${name ? `${quote(name)} ` : ""}<sip:${number}@${formatHost(domain)}>`;
  const headers: [string, string][] = [];
  let from = identity;
  if (req.callerId?.private) {
    from = `"Anonymous" <sip:anonymous@anonymous.invalid>`;
    headers.push(["Privacy", "id"], ["P-Asserted-Identity", identity]);
  }
  headers.push(...(req.headers ?? []));
  return { from, headers };
}
