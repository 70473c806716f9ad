/**
 * @module A call sipws places as the UAC (`POST /dialog/invite`): one INVITE per
 * binding of the callee (forking), the first 2xx wins and the other legs are cancelled
 * (a late 2xx of another leg is ACKed and hung up), the best final ends a call no leg
 * answered. With an offer the ACK goes at once; without one (RFC 3725 flow I) the 2xx's
 * offer is reported as `answered` and the ACK waits for the control server's answer
 * (`ack(sdp)`) at most `api.ack_timeout` seconds, after which the call is ACKed and hung
 * up. It also cancels (ringing timeout, `hangup()` before the answer) and sends BYE;
 * in_dialog.ts answers what the callee sends inside the dialog.
 */
import type { CallLegView } from "../../events.ts";
import { Logger } from "../../log.ts";
import type { TimerHandle } from "../../transaction/timers.ts";
import { createResponse, SipRequest, type SipResponse } from "../../sip/message.ts";
import { formatHost } from "../../sip/uri.ts";
import type { ClientTransaction } from "../../transaction/layer.ts";
import type { Flow, Target } from "../../transport/types.ts";
import { rank } from "../proxy_context.ts";
import { describeTarget } from "../proxy_context.ts";
import type { Hop } from "../proxy_targets.ts";
import { contactFor, sdpOf, targetTransport, UaDialog, viaFor, withSdp } from "./dialog.ts";
import { InDialog, sendBye } from "./in_dialog.ts";
import { type CallDeps, CallError, type CallSink, reportEnd } from "./types.ts";

const log = new Logger("calls");

export interface OriginateParams {
  callId: string;
  domain: string;
  user: string;
  /** From header value (name-addr, no tag). */
  from: string;
  /** Privacy, P-Asserted-Identity and the allow-listed headers of the request. */
  headers: [string, string][];
  maxForwards: number;
  /** The offer; absent for a late offer (RFC 3725 flow I). */
  sdp?: string;
  /** Ringing time before the legs are cancelled, ms. */
  timeoutMs: number;
  hops: Hop[];
}

type LegState = CallLegView["state"];

interface Leg {
  hop: Hop;
  invite: SipRequest;
  tx?: ClientTransaction;
  state: LegState;
  status?: number;
  final?: SipResponse;
}

export type OutboundState = "calling" | "ringing" | "answered" | "confirmed" | "ended";

export class OutboundCall {
  readonly kind = "originated" as const;
  readonly callId: string;
  readonly params: OriginateParams;
  state: OutboundState = "calling";
  /** Once a leg answered: sipws's side of the dialog. */
  session?: InDialog;
  #deps: CallDeps;
  #sink: CallSink;
  #legs: Leg[] = [];
  #fromTag: string;
  #winner?: Leg;
  #ack?: SipRequest;
  #localSdp?: string;
  #ringTimer?: TimerHandle;
  #ackTimer?: TimerHandle;
  #graceTimer?: TimerHandle;
  /** Why the legs were cancelled: the failure reported once they are all done. */
  #cancelled?: { code: number; reason: string };
  #finished = false;

  constructor(deps: CallDeps, sink: CallSink, params: OriginateParams, fromTag: string) {
    this.#deps = deps;
    this.#sink = sink;
    this.params = params;
    this.callId = params.callId;
    this.#fromTag = fromTag;
    this.#localSdp = params.sdp;
  }

  get dialog(): UaDialog | undefined {
    return this.session?.dialog;
  }

  legs(): CallLegView[] {
    return this.#legs.map((l) => ({
      target: l.hop.uri,
      transport: targetTransport(l.hop.target),
      remote: remoteOf(l.hop.target),
      state: l.state,
      ...(l.status !== undefined ? { status: l.status } : {}),
    }));
  }

  /** Sends the INVITEs; false when no leg could start. */
  start(): boolean {
    for (const hop of this.params.hops) {
      const leg: Leg = { hop, invite: this.#invite(hop), state: "calling" };
      try {
        leg.tx = this.#deps.transactions.sendRequest(leg.invite, hop.target, {
          onResponse: (response, flow) => this.#onResponse(leg, response, flow),
          onTimeout: () => this.#legFailed(leg, 408, "Request Timeout"),
          onTransportError: () => this.#legFailed(leg, 503, "Service Unavailable"),
        });
        this.#legs.push(leg);
      } catch (error) {
        log.debug(`leg to ${describeTarget(hop.target)} not started: ${String(error)}`);
      }
    }
    if (this.#legs.length === 0) return false;
    this.#sink.report(this.callId, { event: "trying", code: 100, reason: "Trying" });
    this.#ringTimer = this.#deps.transactions.scheduler.schedule(this.params.timeoutMs, () => {
      this.#ringTimer = undefined;
      this.#cancelAll({ code: 408, reason: "No Answer" });
    });
    return true;
  }

  /** Late offer: the control server's answer goes in the ACK. */
  ack(sdp: string): void {
    if (this.state !== "answered" || !this.#winner || this.#ack) {
      throw new CallError(409, `call ${this.callId} is not waiting for an answer`);
    }
    this.#deps.transactions.scheduler.cancel(this.#ackTimer);
    this.#localSdp = sdp;
    this.#sendAck(sdp);
  }

  /** DELETE: CANCEL before the answer, BYE after. */
  hangup(): void {
    if (this.state === "ended") return;
    if (!this.#winner) {
      this.#cancelAll({ code: 487, reason: "Request Terminated" });
      return;
    }
    if (!this.#ack) this.#sendAck(undefined);
    this.#bye("hung up");
  }

  /** Shutdown: timers stop, nothing is sent. */
  close(): void {
    this.#deps.transactions.scheduler.cancel(this.#ringTimer);
    this.#deps.transactions.scheduler.cancel(this.#ackTimer);
    this.#deps.transactions.scheduler.cancel(this.#graceTimer);
    this.session?.stop();
  }

  #invite(hop: Hop): SipRequest {
    const p = this.params;
    const invite = new SipRequest("INVITE", hop.uri);
    invite.append("Via", viaFor(this.#deps, hop.target));
    for (const route of hop.path ?? []) invite.append("Route", route);
    invite.append("Max-Forwards", String(p.maxForwards));
    invite.append("From", `${p.from};tag=${this.#fromTag}`);
    invite.append("To", `<sip:${p.user}@${formatHost(p.domain)}>`);
    invite.append("Call-ID", p.callId);
    invite.append("CSeq", "1 INVITE");
    invite.append("Contact", contactFor(this.#deps, hop.target));
    invite.append("Allow", "INVITE, ACK, CANCEL, BYE, REFER, NOTIFY, OPTIONS, INFO, UPDATE");
    invite.append("User-Agent", this.#deps.config().sip.userAgent);
    for (const [name, value] of p.headers) invite.append(name, value);
    if (p.sdp !== undefined) withSdp(invite, p.sdp);
    return invite;
  }

  #onResponse(leg: Leg, response: SipResponse, _flow: Flow): void {
    const status = response.status;
    if (status < 200) {
      if (status === 100 || leg.state !== "calling") return;
      leg.state = "ringing";
      this.#sink.changed(this.callId);
      if (this.state === "calling") {
        this.state = "ringing";
        this.#sink.report(this.callId, { event: "ringing", code: status, reason: response.reason });
      }
      return;
    }
    if (status < 300) return this.#on2xx(leg, response);
    this.#legFailed(leg, status, response.reason, response);
  }

  #on2xx(leg: Leg, response: SipResponse): void {
    if (this.#winner === leg) {
      // §13.2.2.4: a retransmitted 2xx gets the same ACK again.
      if (this.#ack) this.#sendStateless(this.#ack);
      return;
    }
    if (this.#winner || this.state === "ended") {
      // Another leg answered too late: ACK it and hang it up (§13.2.2.4).
      const late = UaDialog.fromUac(this.#deps, leg.invite, response, leg.hop.target);
      leg.state = "cancelled";
      this.#sendStateless(late.request("ACK", leg.invite.cseq.seq));
      sendBye(this.#deps, late);
      return;
    }
    this.#winner = leg;
    leg.state = "answered";
    leg.status = response.status;
    this.#deps.transactions.scheduler.cancel(this.#ringTimer);
    const dialog = UaDialog.fromUac(this.#deps, leg.invite, response, leg.hop.target);
    this.session = new InDialog(this.#deps, this.#sink, dialog, {
      localSdp: () => this.#localSdp,
      acked: () => {},
      ended: (code, reason) => this.#end("ended", code, reason),
    });
    for (const other of this.#legs) if (other !== leg) this.#cancelLeg(other);
    this.state = "answered";
    const sdp = sdpOf(response);
    this.#sink.report(this.callId, {
      event: "answered",
      code: response.status,
      reason: response.reason,
      ...(sdp !== undefined ? { sdp } : {}),
    });
    if (this.params.sdp !== undefined) {
      this.#sendAck(undefined);
      return;
    }
    // RFC 3725 flow I: the answer must come from the control server in time.
    const ackTimeoutMs = this.#deps.config().api.ackTimeout * 1000;
    this.#ackTimer = this.#deps.transactions.scheduler.schedule(ackTimeoutMs, () => {
      this.#ackTimer = undefined;
      if (this.#ack || this.state !== "answered") return;
      this.#sendAck(undefined);
      this.#bye("no answer posted");
    });
  }

  #sendAck(sdp: string | undefined): void {
    const ack = this.dialog!.request("ACK", this.#winner!.invite.cseq.seq);
    if (sdp !== undefined) withSdp(ack, sdp);
    this.#ack = ack;
    this.state = "confirmed";
    this.#sendStateless(ack);
    this.#sink.changed(this.callId);
  }

  #bye(reason: string): void {
    this.session?.bye();
    this.#end("ended", undefined, reason);
  }

  #sendStateless(request: SipRequest): void {
    this.#deps.transactions.sendStateless(request, this.dialog?.target ?? this.#legs[0].hop.target)
      .catch((e) => log.debug(`${request.method} not sent: ${String(e)}`));
  }

  #cancelAll(why: { code: number; reason: string }): void {
    if (this.#winner || this.#cancelled) return;
    this.#cancelled = why;
    for (const leg of this.#legs) this.#cancelLeg(leg);
    // A callee that never answers the CANCEL must not keep the call open (§16.8's 64·T1).
    const grace = 64 * this.#deps.config().sip.t1;
    this.#graceTimer = this.#deps.transactions.scheduler.schedule(
      grace,
      () => this.#finishFailed(),
    );
    this.#maybeFailed();
  }

  #cancelLeg(leg: Leg): void {
    if (leg.state !== "calling" && leg.state !== "ringing") return;
    leg.state = "cancelled";
    try {
      leg.tx?.cancel(); // queued by the transaction until a provisional arrived (§9.1)
    } catch (error) {
      log.debug(`CANCEL not sent: ${String(error)}`);
    }
  }

  #legFailed(leg: Leg, status: number, reason: string, response?: SipResponse): void {
    if (leg.final || leg.state === "answered") return;
    leg.status = status;
    leg.final = response ?? createResponse(leg.invite, status, reason);
    if (leg.state !== "cancelled") leg.state = "failed";
    this.#sink.changed(this.callId);
    this.#maybeFailed();
  }

  /** Once no leg can answer any more, the call failed with the best final (§16.7 step 6). */
  #maybeFailed(): void {
    if (this.#winner) return;
    const pending = this.#legs.some((l) => !l.final && l.state !== "answered");
    if (!pending) this.#finishFailed();
  }

  #finishFailed(): void {
    this.#deps.transactions.scheduler.cancel(this.#graceTimer);
    if (this.#winner || this.state === "ended") return;
    let best: SipResponse | undefined;
    for (const l of this.#legs) {
      if (l.final && (!best || rank(l.final) < rank(best))) best = l.final;
    }
    const code = this.#cancelled?.code ?? best?.status ?? 480;
    const reason = this.#cancelled?.reason ?? best?.reason ?? "Temporarily Unavailable";
    this.#end("failed", code, reason);
  }

  #end(event: "failed" | "ended", code: number | undefined, reason: string): void {
    if (this.#finished) return;
    this.#finished = true;
    this.state = "ended";
    this.close();
    reportEnd(this.#sink, this.callId, event, code, reason);
  }
}

function remoteOf(target: Target | undefined): string {
  if (!target) return "";
  if ("flow" in target) return `${formatHost(target.flow.remote.host)}:${target.flow.remote.port}`;
  return `${formatHost(target.host)}:${target.port}`;
}
