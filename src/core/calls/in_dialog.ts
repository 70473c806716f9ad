/**
 * @module sipws as the user agent inside a dialog it holds (calls driven over HTTP), the same for a call
 * it placed and one it answered: its 2xx to an INVITE goes again until the ACK over an
 * unreliable transport (RFC 3261 §13.3.1.4; after 64·T1 without one, BYE), the peer's BYE
 * ends the call, a re-INVITE gets our last SDP again (§14.2), a NOTIFY of a transfer
 * (RFC 3515 §2.4.5, its message/sipfrag status line) is reported as a `transfer` event;
 * it sends REFER and BYE. The call keeps its own state and the other events.
 */
import { Logger } from "../../log.ts";
import type { SipRequest, SipResponse } from "../../sip/message.ts";
import type { TimerHandle } from "../../transaction/timers.ts";
import type { Flow } from "../../transport/types.ts";
import type { UaDialog } from "./dialog.ts";
import type { CallDeps, CallSink } from "./types.ts";

const log = new Logger("calls");

export interface InDialogHooks {
  /** Our current session description (a re-INVITE gets it again). */
  localSdp(): string | undefined;
  /** An ACK came for our 2xx to the INVITE with this CSeq number. */
  acked(cseq: number): void;
  /** The call is over: the peer's BYE, or no ACK for our 2xx (we sent a BYE). */
  ended(code: number | undefined, reason: string): void;
}

/** A 2xx to an INVITE sent again until its ACK. */
interface PendingOk {
  cseq: number;
  ok: SipResponse;
  send: (ok: SipResponse) => void;
  timer?: TimerHandle;
}

/** Sends a BYE inside `dialog`; its answer does not matter any more. */
export function sendBye(deps: CallDeps, dialog: UaDialog): void {
  try {
    deps.transactions.sendRequest(dialog.request("BYE"), dialog.target, {
      onResponse: () => {},
      onTimeout: () => {},
      onTransportError: () => {},
    });
  } catch (error) {
    log.debug(`BYE not sent: ${String(error)}`);
  }
}

/** RFC 3515 §2.4.5: the status line of a transfer NOTIFY's message/sipfrag body. */
export function transferStatus(notify: SipRequest): { code: number; reason: string } | undefined {
  if (!/^refer\b/i.test(notify.get("event") ?? "")) return undefined;
  if (!/^message\/sipfrag\b/i.test(notify.get("content-type") ?? "")) return undefined;
  const line = /^SIP\/2\.0[ \t]+([1-6]\d\d)[ \t]*([^\r\n]*)/.exec(notify.bodyText.trimStart());
  return line ? { code: Number(line[1]), reason: line[2].trim() } : undefined;
}

export class InDialog {
  readonly dialog: UaDialog;
  #deps: CallDeps;
  #sink: CallSink;
  #hooks: InDialogHooks;
  #pending?: PendingOk;

  constructor(deps: CallDeps, sink: CallSink, dialog: UaDialog, hooks: InDialogHooks) {
    this.#deps = deps;
    this.#sink = sink;
    this.dialog = dialog;
    this.#hooks = hooks;
  }

  /** Sends a 2xx to an INVITE, and over an unreliable flow again until its ACK. */
  sendOk(ok: SipResponse, reliable: boolean, send: (ok: SipResponse) => void): void {
    this.stop();
    send(ok);
    if (reliable) return;
    this.#pending = { cseq: ok.cseq.seq, ok, send };
    this.#retransmit(this.#deps.config().sip.t1, 0);
  }

  /** A request of the peer inside the dialog. */
  receive(request: SipRequest, flow: Flow, respond: ((r: SipResponse) => void) | undefined): void {
    const dialog = this.dialog;
    switch (request.method) {
      case "ACK":
        if (this.#pending?.cseq === request.cseq.seq) this.stop();
        this.#hooks.acked(request.cseq.seq);
        return;
      case "BYE":
        respond?.(dialog.response(request, 200));
        this.stop();
        this.#hooks.ended(200, "remote hangup");
        return;
      case "INVITE":
        // A re-INVITE keeps the session as it is: our last description again (§14.2).
        if (respond) {
          this.sendOk(
            dialog.response(request, 200, this.#hooks.localSdp()),
            flow.reliable,
            respond,
          );
        }
        return;
      case "NOTIFY": {
        respond?.(dialog.response(request, 200));
        const status = transferStatus(request);
        if (status) this.#sink.report(dialog.callId, { event: "transfer", ...status });
        return;
      }
      default:
        respond?.(dialog.response(request, 200));
    }
  }

  /** RFC 3515: asks the peer to call `referTo`; resolves with the REFER's final status. */
  refer(referTo: string): Promise<number> {
    const refer = this.dialog.request("REFER");
    refer.append("Refer-To", `<${referTo}>`);
    refer.append("Referred-By", this.dialog.localUri);
    return new Promise((resolve) => {
      try {
        this.#deps.transactions.sendRequest(refer, this.dialog.target, {
          onResponse: (r) => r.status >= 200 && resolve(r.status),
          onTimeout: () => resolve(408),
          onTransportError: () => resolve(503),
        });
      } catch {
        resolve(503);
      }
    });
  }

  bye(): void {
    this.stop();
    sendBye(this.#deps, this.dialog);
  }

  /** No more 2xx retransmissions. */
  stop(): void {
    this.#deps.transactions.scheduler.cancel(this.#pending?.timer);
    this.#pending = undefined;
  }

  /** §13.3.1.4: at T1, 2·T1, ... capped at T2; after 64·T1 without the ACK, BYE. */
  #retransmit(interval: number, elapsed: number): void {
    const pending = this.#pending!;
    const { t1, t2 } = this.#deps.config().sip;
    pending.timer = this.#deps.transactions.scheduler.schedule(interval, () => {
      const total = elapsed + interval;
      if (total >= 64 * t1) {
        log.debug(`no ACK for ${this.dialog.callId}: BYE`);
        this.bye();
        this.#hooks.ended(undefined, "no ACK");
        return;
      }
      try {
        pending.send(pending.ok);
      } catch (error) {
        log.debug(`2xx not retransmitted: ${String(error)}`);
      }
      this.#retransmit(Math.min(2 * interval, t2), total);
    });
  }
}
