/**
 * @module An inbound INVITE the control server chose to hold (action `hold`):
 * sipws keeps the server transaction (the 100 is already out) for at most Timer C and
 * acts on the control server's word: `ring` (180 with Alert-Info, only while neither
 * ringing nor answered, as the mediaswitch API says), `answer` (200 with its SDP: sipws is then the
 * UAS of the dialog, in_dialog.ts answers what the caller sends in it), `reject` (a final
 * status) or `hangup` (480 before the answer, BYE after). The caller's CANCEL ends it with
 * 487.
 */
import type { CallLegView } from "../../events.ts";
import { Logger } from "../../log.ts";
import type { TimerHandle } from "../../transaction/timers.ts";
import { newTag } from "../../sip/ids.ts";
import { createResponse, type SipRequest, type SipResponse } from "../../sip/message.ts";
import type { Flow } from "../../transport/types.ts";
import type { Responder } from "../router.ts";
import { contactFor, UaDialog, withSdp } from "./dialog.ts";
import { InDialog } from "./in_dialog.ts";
import { type CallDeps, CallError, type CallSink, reportEnd } from "./types.ts";

const log = new Logger("calls");

export type HeldState = "held" | "ringing" | "answered" | "confirmed" | "ended";

export class HeldCall {
  readonly kind = "held" as const;
  readonly callId: string;
  readonly invite: SipRequest;
  readonly flow: Flow;
  state: HeldState = "held";
  /** Once answered: sipws's side of the dialog. */
  session?: InDialog;
  #deps: CallDeps;
  #sink: CallSink;
  #tx: Responder;
  #localTag = newTag();
  #localSdp?: string;
  #timerC?: TimerHandle;
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
    const dialog = UaDialog.fromUas(this.#deps, this.invite, this.#localTag, { flow: this.flow });
    this.session = new InDialog(this.#deps, this.#sink, dialog, {
      localSdp: () => this.#localSdp,
      acked: (cseq) => {
        if (cseq !== this.invite.cseq.seq || this.state !== "answered") return;
        this.state = "confirmed";
        this.#sink.changed(this.callId);
      },
      ended: (code, reason) => this.#end("ended", code, reason),
    });
    this.state = "answered";
    this.session.sendOk(ok, this.flow.reliable, (r) => this.#send(r));
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
    if (this.state === "ended" || !this.session) return;
    this.session.bye();
    this.#end("ended", undefined, "hung up");
  }

  close(): void {
    this.#deps.transactions.scheduler.cancel(this.#timerC);
    this.session?.stop();
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
    reportEnd(this.#sink, this.callId, event, code, reason);
  }
}
