/**
 * @module An inbound INVITE the control server chose to hold (action `hold`):
 * sipws keeps the server transaction (the 100 is already out) for at most Timer C and
 * acts on the control server's word: `ring` (180 with Alert-Info, only while neither
 * ringing nor answered, as the mediaswitch API says), `answer` (200 with its SDP: sipws is then the
 * UAS of the dialog, retransmits the 2xx until the ACK (§13.3.1.4), answers BYE and
 * re-INVITE with the last SDP), `reject` (a final status) or `hangup` (480 before the
 * answer, BYE after). The caller's CANCEL ends it with 487.
 */
import type { CallLegView } from "../../events.ts";
import { Logger } from "../../log.ts";
import type { TimerHandle } from "../../transaction/timers.ts";
import { newTag } from "../../sip/ids.ts";
import { createResponse, type SipRequest, type SipResponse } from "../../sip/message.ts";
import type { Flow } from "../../transport/types.ts";
import type { Responder } from "../router.ts";
import { contactFor, UaDialog, withSdp } from "./dialog.ts";
import { type CallDeps, CallError, type CallSink } from "./types.ts";

const log = new Logger("calls");

export type HeldState = "held" | "ringing" | "answered" | "confirmed" | "ended";

export class HeldCall {
  readonly kind = "held" as const;
  readonly callId: string;
  readonly invite: SipRequest;
  readonly flow: Flow;
  state: HeldState = "held";
  dialog?: UaDialog;
  #deps: CallDeps;
  #sink: CallSink;
  #tx: Responder;
  #localTag = newTag();
  #localSdp?: string;
  #ok?: SipResponse;
  #timerC?: TimerHandle;
  #retransmit?: TimerHandle;
  #finished = false;

  constructor(deps: CallDeps, sink: CallSink, invite: SipRequest, flow: Flow, tx: Responder) {
    this.#deps = deps;
    this.#sink = sink;
    this.invite = invite;
    this.callId = invite.callId;
    this.flow = flow;
    this.#tx = tx;
  }

  legs(): CallLegView[] {
    const remote = `${this.flow.remote.host}:${this.flow.remote.port}`;
    const state = this.state === "held"
      ? "calling"
      : this.state === "ended"
      ? "failed"
      : this.state;
    return [{
      target: this.invite.uri,
      transport: this.flow.transport,
      remote,
      state: state === "confirmed" ? "answered" : state,
    }];
  }

  /** Reports `trying` and bounds the wait by Timer C (§16.6 item 11). */
  start(): void {
    this.#tx.listenForCancel(() => this.#final(487, "Request Terminated"));
    this.#sink.report(this.callId, { event: "trying", code: 100, reason: "Trying" });
    this.#timerC = this.#deps.transactions.scheduler.schedule(
      this.#deps.config().sip.timerC,
      () => this.#final(408, "Request Timeout"),
    );
  }

  /** 180 with Alert-Info unless already ringing or answered; true when sent. */
  ring(alertInfo?: string): boolean {
    if (this.state !== "held") return false;
    const ringing = this.#response(180);
    if (alertInfo) ringing.append("Alert-Info", alertInfo);
    this.state = "ringing";
    this.#send(ringing);
    this.#sink.report(this.callId, { event: "ringing", code: 180, reason: "Ringing" });
    return true;
  }

  answer(sdp: string): void {
    if (this.state !== "held" && this.state !== "ringing") {
      throw new CallError(409, `call ${this.callId} is ${this.state}`);
    }
    this.#deps.transactions.scheduler.cancel(this.#timerC);
    this.#localSdp = sdp;
    const ok = withSdp(this.#response(200), sdp);
    ok.append("Contact", contactFor(this.#deps, { flow: this.flow }));
    this.#ok = ok;
    this.dialog = UaDialog.fromUas(this.#deps, this.invite, this.#localTag, { flow: this.flow });
    this.state = "answered";
    this.#send(ok);
    if (!this.flow.reliable) this.#retransmitOk(this.#deps.config().sip.t1, 0);
    this.#sink.report(this.callId, { event: "answered", code: 200, reason: "OK" });
  }

  reject(code: number, reason?: string): void {
    if (this.state !== "held" && this.state !== "ringing") {
      throw new CallError(409, `call ${this.callId} is ${this.state}`);
    }
    this.#final(code, reason);
  }

  hangup(): void {
    if (this.state === "held" || this.state === "ringing") {
      this.#final(480, "Temporarily Unavailable");
      return;
    }
    if (this.state === "ended" || !this.dialog) return;
    try {
      this.#deps.transactions.sendRequest(this.dialog.request("BYE"), this.dialog.target, {
        onResponse: () => {},
        onTimeout: () => {},
        onTransportError: () => {},
      });
    } catch (error) {
      log.debug(`BYE not sent: ${String(error)}`);
    }
    this.#end("ended", undefined, "hung up");
  }

  /** A request of the caller inside the dialog (ACK, BYE, re-INVITE, ...). */
  receive(request: SipRequest, respond: ((r: SipResponse) => void) | undefined): void {
    const dialog = this.dialog;
    if (!dialog) return;
    if (request.method === "ACK") {
      if (request.cseq.seq === this.invite.cseq.seq && this.state === "answered") {
        this.#deps.transactions.scheduler.cancel(this.#retransmit);
        this.state = "confirmed";
        this.#sink.changed(this.callId);
      }
      return;
    }
    if (request.method === "BYE") {
      respond?.(dialog.response(request, 200));
      this.#end("ended", 200, "remote hangup");
      return;
    }
    const sdp = request.method === "INVITE" ? this.#localSdp : undefined;
    respond?.(dialog.response(request, 200, sdp));
  }

  close(): void {
    this.#deps.transactions.scheduler.cancel(this.#timerC);
    this.#deps.transactions.scheduler.cancel(this.#retransmit);
  }

  /** §13.3.1.4: the 2xx again at T1, 2·T1, ... capped at T2, until the ACK or 64·T1. */
  #retransmitOk(interval: number, elapsed: number): void {
    const t1 = this.#deps.config().sip.t1;
    const t2 = this.#deps.config().sip.t2;
    this.#retransmit = this.#deps.transactions.scheduler.schedule(interval, () => {
      if (this.state !== "answered" || !this.#ok) return;
      const total = elapsed + interval;
      if (total >= 64 * t1) {
        log.debug(`no ACK for ${this.callId}: hanging up`);
        this.hangup();
        return;
      }
      this.#send(this.#ok);
      this.#retransmitOk(Math.min(2 * interval, t2), total);
    });
  }

  #response(status: number, reason?: string): SipResponse {
    const response = createResponse(this.invite, status, reason, this.#localTag);
    response.append("Server", this.#deps.config().sip.userAgent);
    return response;
  }

  #send(response: SipResponse): void {
    try {
      this.#tx.respond(response);
    } catch (error) {
      // After Timer L the transaction is gone: a 2xx retransmission goes straight out.
      this.#deps.transactions.sendStateless(response, { flow: this.flow }).catch(() => {});
      log.debug(`${response.status} sent without transaction: ${String(error)}`);
    }
  }

  #final(code: number, reason?: string): void {
    if (this.state !== "held" && this.state !== "ringing") return;
    const response = this.#response(code, reason);
    this.#send(response);
    this.#end("failed", code, response.reason);
  }

  #end(event: "failed" | "ended", code: number | undefined, reason: string): void {
    if (this.#finished) return;
    this.#finished = true;
    this.state = "ended";
    this.close();
    this.#sink.report(this.callId, { event, ...(code !== undefined ? { code } : {}), reason });
    this.#sink.finished(this.callId);
  }
}
