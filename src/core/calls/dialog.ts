/**
 * @module The user-agent side of one SIP dialog (RFC 3261 §12) that sipws holds itself
 * when it originates or answers a call over HTTP: Call-ID, tags, local and remote URIs,
 * remote target, route set, local CSeq and where the peer is reached. It builds the
 * requests sent inside the dialog (ACK, BYE, REFER, ...) per §12.2.1.1 and the responses
 * to requests received in it; it sends nothing itself.
 */
import { newTag } from "../../sip/ids.ts";
import { createResponse, SipRequest, type SipResponse } from "../../sip/message.ts";
import { parseNameAddr } from "../../sip/name_addr.ts";
import { formatHost, formatUri } from "../../sip/uri.ts";
import { newBranch } from "../../transaction/layer.ts";
import { tagParam } from "../../sip/tag.ts";
import type { Address, Target, TransportName } from "../../transport/types.ts";
import { viaValue } from "../record_route.ts";
import type { CallDeps } from "./types.ts";

export function targetTransport(target: Target): TransportName {
  return "flow" in target ? target.flow.transport : target.transport;
}

function targetHost(target: Target): string {
  return "flow" in target ? target.flow.remote.host : target.host;
}

/** Our address toward `target` (Via, Contact). */
export function localAddressFor(deps: CallDeps, target: Target): Address {
  const transport = targetTransport(target);
  const local = deps.transport.localAddress(transport, targetHost(target)) ??
    ("flow" in target ? target.flow.local : undefined);
  if (!local) throw new Error(`no ${transport} listener`);
  return local;
}

/** A Via for a new client transaction toward `target`. */
export function viaFor(deps: CallDeps, target: Target): string {
  const local = localAddressFor(deps, target);
  const transport = targetTransport(target);
  return viaValue(transport, local, newBranch(), transport === "udp");
}

/** Our Contact toward `target`: sipws itself is the user agent. */
export function contactFor(deps: CallDeps, target: Target): string {
  const local = localAddressFor(deps, target);
  const transport = targetTransport(target);
  const param = transport === "udp" ? "" : `;transport=${transport === "wss" ? "ws" : transport}`;
  return `<sip:sipws@${formatHost(local.host)}:${local.port}${param}>`;
}

function contactUri(message: { get(name: string): string | undefined }): string | undefined {
  const value = message.get("contact");
  if (!value) return undefined;
  try {
    return formatUri(parseNameAddr(value).uri);
  } catch {
    return undefined;
  }
}

export class UaDialog {
  readonly callId: string;
  readonly localTag: string;
  remoteTag: string;
  /** From (ours) and To (theirs) header values without tags. */
  readonly localUri: string;
  readonly remoteUri: string;
  remoteTarget: string;
  routeSet: string[];
  localCseq: number;
  readonly target: Target;
  #deps: CallDeps;

  constructor(
    deps: CallDeps,
    init: {
      callId: string;
      localTag: string;
      remoteTag: string;
      localUri: string;
      remoteUri: string;
      remoteTarget: string;
      routeSet: string[];
      localCseq: number;
      target: Target;
    },
  ) {
    this.#deps = deps;
    this.callId = init.callId;
    this.localTag = init.localTag;
    this.remoteTag = init.remoteTag;
    this.localUri = init.localUri;
    this.remoteUri = init.remoteUri;
    this.remoteTarget = init.remoteTarget;
    this.routeSet = init.routeSet;
    this.localCseq = init.localCseq;
    this.target = init.target;
  }

  /** §12.1.2: the UAC's dialog from its INVITE and the 2xx (route set reversed). */
  static fromUac(deps: CallDeps, invite: SipRequest, ok: SipResponse, target: Target): UaDialog {
    return new UaDialog(deps, {
      callId: invite.callId,
      localTag: tagParam(invite.get("from") ?? ""),
      remoteTag: tagParam(ok.get("to") ?? ""),
      localUri: stripTag(invite.get("from") ?? ""),
      remoteUri: stripTag(invite.get("to") ?? ""),
      remoteTarget: contactUri(ok) ?? invite.uri,
      routeSet: ok.getAll("record-route").reverse(),
      localCseq: invite.cseq.seq,
      target,
    });
  }

  /** §12.1.1: the UAS's dialog from the INVITE it answers (route set in order). */
  static fromUas(deps: CallDeps, invite: SipRequest, localTag: string, target: Target): UaDialog {
    return new UaDialog(deps, {
      callId: invite.callId,
      localTag,
      remoteTag: tagParam(invite.get("from") ?? ""),
      localUri: stripTag(invite.get("to") ?? ""),
      remoteUri: stripTag(invite.get("from") ?? ""),
      remoteTarget: contactUri(invite) ?? invite.uri,
      routeSet: invite.getAll("record-route"),
      localCseq: 0,
      target,
    });
  }

  /** True when `request` belongs to this dialog (§12.2.2: Call-ID and both tags). */
  matches(request: SipRequest): boolean {
    return request.callId === this.callId &&
      tagParam(request.get("to") ?? "") === this.localTag &&
      tagParam(request.get("from") ?? "") === this.remoteTag;
  }

  /** §12.2.1.1: a request inside the dialog; ACK reuses the INVITE's CSeq number. */
  request(method: string, cseq?: number): SipRequest {
    const request = new SipRequest(method, this.remoteTarget);
    request.append("Via", viaFor(this.#deps, this.target));
    for (const route of this.routeSet) request.append("Route", route);
    request.append("Max-Forwards", "70");
    request.append("From", `${this.localUri};tag=${this.localTag}`);
    request.append("To", `${this.remoteUri};tag=${this.remoteTag}`);
    request.append("Call-ID", this.callId);
    const seq = cseq ?? ++this.localCseq;
    request.append("CSeq", `${seq} ${method}`);
    if (method !== "ACK" && method !== "BYE") {
      request.append("Contact", contactFor(this.#deps, this.target));
    }
    request.append("User-Agent", this.#deps.config().sip.userAgent);
    return request;
  }

  /** A response to a request received inside the dialog. */
  response(request: SipRequest, status: number, sdp?: string): SipResponse {
    const response = createResponse(request, status, undefined, this.localTag || newTag());
    if (request.method === "INVITE" && status < 300) {
      response.append("Contact", contactFor(this.#deps, this.target));
    }
    if (sdp !== undefined) withSdp(response, sdp);
    return response;
  }
}

/** Puts an SDP body on a message. */
export function withSdp<T extends { append(n: string, v: string): void; bodyText: string }>(
  message: T,
  sdp: string,
): T {
  message.append("Content-Type", "application/sdp");
  message.bodyText = sdp;
  return message;
}

/** The SDP body of a message, if it has one. */
export function sdpOf(message: { get(n: string): string | undefined; bodyText: string }) {
  const type = (message.get("content-type") ?? "").toLowerCase();
  return type.startsWith("application/sdp") && message.bodyText !== ""
    ? message.bodyText
    : undefined;
}

function stripTag(value: string): string {
  return value.replace(/;\s*tag\s*=\s*[^;>\s]*/i, "");
}
