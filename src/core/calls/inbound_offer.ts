/**
 * @module What a control server is told of an inbound call of a domain with `calls: true`
 * (`POST {control}/invite`) and the decisions it may answer with (proxy, proxy to another
 * user, reject, hold). Built from the INVITE here; asking and acting belong to
 * call_control.ts (and the HTTP to the API layer).
 */
import type { SipRequest } from "../../sip/message.ts";
import type { SipUri } from "../../sip/uri.ts";
import type { Flow } from "../../transport/types.ts";
import { sdpOf } from "./dialog.ts";

/** What `POST {control}/invite` is told of an inbound call. */
export interface InboundInfo {
  control: string;
  callid: string;
  domain: string;
  from: string;
  to: string;
  callerid: { number: string; name: string };
  sdp?: string;
  remote: { host: string; port: number };
  agent: string;
}

export type Decision =
  | { action: "proxy"; to?: string }
  | { action: "reject"; code: number; reason?: string }
  | { action: "hold" };

/** The offer of an INVITE from `flow` to `uri`, for the control server of `owner`. */
export function inboundInfo(
  request: SipRequest,
  uri: SipUri,
  flow: Flow,
  owner: { control: string; domain: string },
): InboundInfo {
  return {
    control: owner.control,
    callid: request.callId,
    domain: owner.domain,
    from: request.from.uri.user ?? "",
    to: uri.user ?? "",
    callerid: { number: request.from.uri.user ?? "", name: request.from.displayName ?? "" },
    sdp: sdpOf(request),
    remote: { ...flow.remote },
    agent: request.get("user-agent") ?? "",
  };
}
