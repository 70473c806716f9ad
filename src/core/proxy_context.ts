/**
 * @module One proxied request and its branches (RFC 3261 §16.7, §16.8, §16.10): starts a
 * client transaction per target in parallel, forwards provisional responses and every
 * 2xx upstream at once (RFC 6026: retransmissions too), cancels the other branches on a
 * 2xx or 6xx or on the caller's CANCEL, runs Timer C per INVITE branch and, once every
 * branch is done, sends the caller the best final response. Which targets to try and how
 * each branch request is built belong to proxy.ts.
 */
import { Logger } from "../log.ts";
import { newTag } from "../sip/ids.ts";
import { createResponse, type SipRequest, type SipResponse } from "../sip/message.ts";
import type { ClientHandlers, ClientTransaction, TransactionLayer } from "../transaction/layer.ts";
import type { Scheduler, TimerHandle } from "../transaction/timers.ts";
import type { Flow, Target } from "../transport/types.ts";
import type { DialogTracker } from "./dialogs.ts";
import type { Responder } from "./router.ts";

const log = new Logger("proxy");

export interface ContextDeps {
  transactions: Pick<TransactionLayer, "sendRequest" | "sendStateless">;
  /** The transaction layer's timer wheel: Timer C and the grace run on its clock. */
  scheduler: Pick<Scheduler, "schedule" | "cancel">;
  /** Timer C, ms (§16.6 item 11). */
  timerC: number;
  /** How long a cancelled branch may take to send its final before we give up (64*T1). */
  cancelGrace: number;
  dialogs?: DialogTracker;
  /** The context has nothing left to do (final sent, every branch settled). */
  onDone?: (context: ProxyContext) => void;
}

/** Where a branch reports: its live context, or once that is done, the caller's flow. */
interface BranchOwner {
  branchResponse(branch: Branch, response: SipResponse, flow: Flow): void;
  branchTimeout(branch: Branch): void;
  branchTransportError(branch: Branch, error: Error): void;
}

/**
 * One branch, and the client transaction's handlers for it: a class with every field declared
 * up front (no properties added later, so no out-of-object property store) and methods
 * instead of three closures and their scope, since an INVITE's client transaction keeps its
 * handlers for the 32 s of Timer M.
 */
class Branch implements ClientHandlers {
  /** The context; its deps' `Upstream` once it is done (see `ProxyContext.close`). */
  owner: BranchOwner;
  readonly target: Target;
  /** The caller's flow: where a 2xx goes once the context is done. */
  readonly upstream: Flow;
  tx: ClientTransaction | undefined = undefined;
  /** A final response arrived (or was synthesized). */
  done = false;
  provisional = false;
  cancelled = false;
  final: SipResponse | undefined = undefined;
  timerC: TimerHandle | undefined = undefined;
  grace: TimerHandle | undefined = undefined;

  constructor(owner: BranchOwner, target: Target, upstream: Flow) {
    this.owner = owner;
    this.target = target;
    this.upstream = upstream;
  }

  onResponse(response: SipResponse, flow: Flow): void {
    this.owner.branchResponse(this, response, flow);
  }

  onTimeout(): void {
    this.owner.branchTimeout(this);
  }

  onTransportError(error: Error): void {
    this.owner.branchTransportError(this, error);
  }
}

/**
 * What a done context leaves its branches for the rest of Timer M (64·T1): a later 2xx on
 * a branch (a retransmission, another fork's answer) goes to the caller statelessly on the
 * branch's `upstream` flow (RFC 6026 §8.3; the server transaction's Accepted state would
 * only pass it on). One per `ContextDeps`, shared by every done branch; nothing else can
 * arrive on a branch whose client transaction has its final.
 */
class Upstream implements BranchOwner {
  readonly #transactions: ContextDeps["transactions"];

  constructor(transactions: ContextDeps["transactions"]) {
    this.#transactions = transactions;
  }

  branchResponse(branch: Branch, response: SipResponse): void {
    if (response.status < 200 || response.status >= 300) return;
    // §16.7 step 3: our Via goes; a response with nothing left was for us.
    response.shift("via");
    if (response.has("via")) forwardStateless(this.#transactions, response, branch.upstream);
  }

  branchTimeout(): void {}

  branchTransportError(): void {}
}

/** The done branches' owner of each `ContextDeps` (one object per configuration). */
const upstreams = new WeakMap<ContextDeps, Upstream>();

function upstreamOf(deps: ContextDeps): Upstream {
  let upstream = upstreams.get(deps);
  if (upstream === undefined) upstreams.set(deps, upstream = new Upstream(deps.transactions));
  return upstream;
}

/** A 2xx to the caller without its server transaction (RFC 6026 §8.3). */
function forwardStateless(
  transactions: ContextDeps["transactions"],
  response: SipResponse,
  flow: Flow,
): void {
  transactions.sendStateless(response, { flow }).catch((e) => {
    log.debug(`2xx not forwarded: ${String(e)}`);
  });
}

/** §16.7 step 6: the preference among finals of the same class. */
export function rank(response: SipResponse): number {
  const s = response.status;
  if (s >= 600) return 0; // a 6xx ends the search (§16.7 step 4)
  const klass = Math.floor(s / 100);
  let bonus = 0.5;
  if (s === 401 || s === 407) bonus = 0;
  else if (s === 415 || s === 420 || s === 484) bonus = 0.1;
  else if (s === 408) bonus = 0.9; // a timeout says less than any real answer
  return klass + bonus;
}

export class ProxyContext implements BranchOwner {
  /** The caller's request until the context is done: then let go (see `close`). */
  #request: SipRequest | undefined;
  readonly #callId: string;
  readonly isInvite: boolean;
  #deps: ContextDeps;
  /** The caller's transaction, let go once done (see `close`). */
  #tx: Responder | undefined;
  #inFlow: Flow;
  #branches: Branch[] = [];
  #finalSent = false;
  #cancelledByCaller = false;
  #best?: SipResponse;
  #disposed = false;

  constructor(deps: ContextDeps, request: SipRequest, tx: Responder, inFlow: Flow) {
    this.#deps = deps;
    this.#request = request;
    this.#callId = request.callId;
    this.isInvite = request.method === "INVITE";
    this.#tx = tx;
    this.#inFlow = inFlow;
  }

  get finalSent(): boolean {
    return this.#finalSent;
  }

  /** Starts one branch: `request` already carries our Via, the target is resolved. */
  addBranch(request: SipRequest, target: Target): void {
    const branch = new Branch(this, target, this.#inFlow);
    this.#branches.push(branch);
    try {
      branch.tx = this.#deps.transactions.sendRequest(request, target, branch);
    } catch (error) {
      log.warn(`cannot start branch to ${describeTarget(target)}: ${String(error)}`);
      branch.done = true;
      branch.final = this.#synthesize(503, "Service Unavailable");
      queueMicrotask(() => this.#maybeFinish());
      return;
    }
    if (this.isInvite) branch.timerC = this.#after(this.#deps.timerC, () => this.#onTimerC(branch));
  }

  /** The branch's client transaction timed out (Timer B / F). */
  branchTimeout(branch: Branch): void {
    if (!branch.done) this.#complete(branch, this.#synthesize(408));
  }

  /** The branch's client transaction could not send (§17.1.4). */
  branchTransportError(branch: Branch, error: Error): void {
    if (branch.done) return;
    log.debug(`branch to ${describeTarget(branch.target)} failed: ${error.message}`);
    this.#complete(branch, this.#synthesize(503, "Service Unavailable"));
  }

  /** §16.10: the caller's CANCEL matched: cancel every pending branch. */
  cancel(): void {
    this.#cancelledByCaller = true;
    for (const b of this.#branches) this.#cancelBranch(b);
  }

  /** A response on `branch`, from its client transaction. */
  branchResponse(branch: Branch, response: SipResponse, flow: Flow): void {
    // §16.7 step 3: our Via goes; a response with nothing left was for us.
    response.shift("via");
    if (!response.has("via")) return;
    const status = response.status;
    if (status < 200) {
      if (status === 100) return; // §16.7 step 5: 100 is hop-by-hop
      branch.provisional = true;
      if (this.isInvite && !branch.done) this.#restartTimerC(branch);
      if (this.#finalSent) return;
      if (this.isInvite) this.#deps.dialogs?.response(response, flow);
      this.#respond(response);
      return;
    }
    if (status < 300) {
      const retransmission = branch.done;
      this.#settle(branch, response);
      if (!this.isInvite) {
        // A non-INVITE gets one final; later 2xx from other forks have nowhere to go.
        if (this.#finalSent) return;
        this.#finalSent = true;
        this.#respond(response);
        this.#dispose();
        return;
      }
      // §16.7 step 5 and RFC 6026 §8.3: every 2xx to INVITE goes upstream, retransmissions
      // and other forks' answers included; the other branches are cancelled.
      this.#deps.dialogs?.response(response, flow);
      this.#finalSent = true;
      if (!retransmission) {
        for (const b of this.#branches) if (b !== branch) this.#cancelBranch(b);
      }
      this.#forward2xx(response);
      return;
    }
    if (branch.done) return;
    if (status >= 600 && this.isInvite) {
      // §16.7 step 4: a 6xx cancels every other branch.
      for (const b of this.#branches) if (b !== branch) this.#cancelBranch(b);
    }
    this.#complete(branch, response);
  }

  #forward2xx(response: SipResponse): void {
    try {
      if (!this.#tx) throw new Error("no server transaction");
      this.#tx.respond(response);
    } catch {
      // RFC 6026 §8.3: the context is done (a retransmission, another fork's 2xx) or the
      // server transaction is gone: forward statelessly on the caller's flow.
      forwardStateless(this.#deps.transactions, response, this.#inFlow);
    }
  }

  #respond(response: SipResponse): void {
    try {
      this.#tx?.respond(response);
    } catch (error) {
      log.debug(`response ${response.status} not sent upstream: ${String(error)}`);
    }
  }

  #complete(branch: Branch, response: SipResponse): void {
    if (branch.done) return;
    this.#settle(branch, response);
    if (!this.#best || rank(response) < rank(this.#best)) this.#best = response;
    this.#maybeFinish();
  }

  #settle(branch: Branch, response: SipResponse): void {
    branch.done = true;
    if (!this.#disposed) branch.final ??= response; // a 2xx retransmission after close: not kept
    this.#stopTimers(branch);
    queueMicrotask(() => this.#dispose());
  }

  /** §16.7 step 6: when no branch is pending, the best final goes to the caller. */
  #maybeFinish(): void {
    if (this.#finalSent || this.#branches.some((b) => !b.done)) return;
    let best = this.#best;
    for (const b of this.#branches) {
      if (b.final && b.final.status >= 300 && (!best || rank(b.final) < rank(best))) best = b.final;
    }
    best ??= this.#synthesize(this.#cancelledByCaller ? 487 : 408);
    if (this.#cancelledByCaller && best.status === 408) best = this.#synthesize(487);
    // §16.7 step 6: a 503 from downstream must not make the caller think we are down.
    if (best.status === 503) {
      best = best.clone();
      best.status = 500;
      best.reason = "Server Internal Error";
    }
    this.#finalSent = true;
    if (this.isInvite) this.#deps.dialogs?.failed(this.#callId);
    this.#respond(best);
    this.#dispose();
  }

  #cancelBranch(branch: Branch): void {
    if (branch.done || branch.cancelled) return;
    branch.cancelled = true;
    this.#deps.scheduler.cancel(branch.timerC);
    if (!this.isInvite) return; // §9.1: only INVITE can be cancelled; it runs to its end
    try {
      branch.tx?.cancel();
    } catch (error) {
      log.debug(`CANCEL not sent: ${String(error)}`);
    }
    // A UAS that never answers the CANCEL must not hold the caller forever (§16.8).
    branch.grace = this.#after(
      this.#deps.cancelGrace,
      () => this.#complete(branch, this.#synthesize(487)),
    );
  }

  #restartTimerC(branch: Branch): void {
    this.#deps.scheduler.cancel(branch.timerC);
    branch.timerC = this.#after(this.#deps.timerC, () => this.#onTimerC(branch));
  }

  #after(ms: number, fn: () => void): TimerHandle {
    return this.#deps.scheduler.schedule(ms, fn);
  }

  #stopTimers(branch: Branch): void {
    this.#deps.scheduler.cancel(branch.timerC);
    this.#deps.scheduler.cancel(branch.grace);
    branch.timerC = branch.grace = undefined;
  }

  /** §16.8: Timer C fired: CANCEL a ringing branch, treat a silent one as 408. */
  #onTimerC(branch: Branch): void {
    branch.timerC = undefined;
    if (branch.done) return;
    if (branch.provisional) {
      this.#cancelBranch(branch);
      this.#deps.scheduler.cancel(branch.grace);
      branch.grace = this.#after(
        this.#deps.cancelGrace,
        () => this.#complete(branch, this.#synthesize(408)),
      );
    } else {
      this.#cancelBranch(branch);
      this.#complete(branch, this.#synthesize(408));
    }
  }

  #synthesize(status: number, reason?: string): SipResponse {
    const request = this.#request;
    if (!request) throw new Error(`proxy context done: no ${status} to synthesize`);
    return createResponse(request, status, reason, newTag());
  }

  /** Once the caller has its final and no branch is pending, the context is done. */
  #dispose(): void {
    if (this.#disposed || !this.#finalSent || this.#branches.some((b) => !b.done)) return;
    this.close();
    this.#deps.onDone?.(this);
  }

  /**
   * Stops every timer (done, or server shutdown) and lets go of the messages and the
   * transactions. An INVITE's client transaction keeps its branch's handlers for 2xx
   * retransmissions (Timer M, 64·T1), which need only the caller's flow: the branches get
   * their deps' `Upstream` in place of this context, so nothing keeps the context itself.
   */
  close(): void {
    this.#disposed = true;
    this.#request = this.#best = undefined;
    this.#tx = undefined;
    const upstream = upstreamOf(this.#deps);
    for (const b of this.#branches) {
      this.#stopTimers(b);
      b.final = undefined;
      b.tx = undefined;
      b.owner = upstream;
    }
  }
}

export function describeTarget(target: Target): string {
  return "flow" in target ? target.flow.id : `${target.transport}:${target.host}:${target.port}`;
}
