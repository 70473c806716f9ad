/**
 * @module Call control over HTTP: the registry of calls sipws places
 * (`originate`) or holds for a control server (`offer`, the proxy's inbound hook), keyed
 * by Call-ID and bounded by `api.max_calls`. It checks an originate request against the
 * directory and the location service (404 unknown domain or user; 409 with a `failed`
 * 480 event when nobody is registered; 503 when full: nothing is sent then; an inbound
 * hold with no room left is proxied as usual), hands requests inside its dialogs
 * to their call, publishes every call event as `call.event` (the API delivers them to the
 * control server) and keeps each call's view in the dialog list. It does no HTTP: the
 * decision of a control server comes through the `decide` function the API plugs in.
 */
import type { CallEvent, DialogView, EventBus } from "../../events.ts";
import { Logger } from "../../log.ts";
import type { TimerHandle } from "../../transaction/timers.ts";
import { SipError } from "../../sip/errors.ts";
import { newCallId, newTag } from "../../sip/ids.ts";
import { createResponse, type SipRequest, type SipResponse } from "../../sip/message.ts";
import { formatHost, parseUri, type SipUri } from "../../sip/uri.ts";
import type { AccountStore } from "../../store/account.ts";
import type { Flow } from "../../transport/types.ts";
import type { DialogTracker } from "../dialogs.ts";
import { servesDomain } from "../domains.ts";
import type { InboundControl } from "../proxy.ts";
import type { Responder } from "../router.ts";
import type { Hop } from "../proxy_targets.ts";
import { type Decision, type InboundInfo, inboundInfo } from "./inbound_offer.ts";
import { HeldCall } from "./held_call.ts";
import { CallSlots } from "./call_slots.ts";
import { callerHeaders, type OriginateRequest } from "./originate_request.ts";
import { OutboundCall } from "./outbound_call.ts";
import { type CallDeps, CallError, type CallSink } from "./types.ts";

const log = new Logger("calls");

export interface CallControlDeps extends CallDeps {
  store: AccountStore;
  events: EventBus;
  dialogs: DialogTracker;
  /** One hop per live binding of a user of ours (the proxy's location lookup). */
  bindingHops: (uri: SipUri) => Hop[];
  /** The server's count of open API calls (every worker's, shared); a new count if absent. */
  slots?: CallSlots;
}

type Call = OutboundCall | HeldCall;

/** The answer to an originate request: the call and its legs. */
export interface Originated {
  callid: string;
  legs: DialogView["legs"];
  control?: string;
}

/** An originate request for a user of ours. */
interface Checked {
  req: OriginateRequest;
  domain: string;
  control?: string;
  /** Prefix of the field an error names (`[1].`). */
  at: string;
}

/** ... with a Call-ID and one hop per binding of the callee. */
interface Prepared extends Checked {
  callId: string;
  hops: Hop[];
}

interface Entry {
  call: Call;
  /** Where its events go, and the directory domain whose secret signs them. */
  control?: string;
  domain: string;
  view: DialogView;
}

/** What the API does to a call by its Call-ID. */
export type CallAction = "ring" | "answer" | "reject" | "ack" | "hangup" | "refer";

export class CallControl implements InboundControl, CallSink {
  /** Plugged in by the API: asks a control server what to do with an inbound call. */
  decide?: (info: InboundInfo) => Promise<Decision | undefined>;
  /**
   * Plugged in with several workers: an action on a call another worker holds is done
   * there (the promise settles with its result); undefined means the call is not elsewhere.
   */
  elsewhere?: (callId: string, action: CallAction, args: unknown[]) => Promise<unknown> | undefined;
  #deps: CallControlDeps;
  /** Calls this thread holds; every one has one of the server's `slots`. */
  #calls = new Map<string, Entry>();
  readonly slots: CallSlots;

  constructor(deps: CallControlDeps) {
    this.#deps = deps;
    this.slots = deps.slots ?? new CallSlots();
  }

  /** Open API calls (placed or held) in the whole server, every worker's. */
  get size(): number {
    return this.slots.open;
  }

  /**
   * Places one call per request, all or none: every request is checked (404, 409, 503)
   * before the first INVITE goes out. `at(i)` prefixes the field an error names.
   */
  originate(requests: OriginateRequest[], at: (i: number) => string = () => ""): Originated[] {
    const checked = requests.map((req, i) => this.#check(req, at(i)));
    if (!this.slots.take(requests.length, this.#deps.config().api.maxCalls)) {
      throw new CallError(503, `${this.slots.open} calls are open (api.max_calls)`);
    }
    // Slots taken and not yet handed to a call (#place hands one over when it adds the call).
    let unused = requests.length;
    const placed: Originated[] = [];
    try {
      const calls = checked.map((c) => this.#route(c));
      for (const call of calls) placed.push(this.#place(call, () => unused--));
    } catch (error) {
      for (const p of placed) this.hangup(p.callid);
      throw error;
    } finally {
      this.slots.give(unused);
    }
    return placed;
  }

  /** True while this worker holds the call. */
  has(callId: string): boolean {
    return this.#calls.has(callId);
  }

  /** Where the call another worker holds settles the action; undefined: do it here. */
  #remote(callId: string, action: CallAction, args: unknown[]): Promise<unknown> | undefined {
    return this.#calls.has(callId) ? undefined : this.elsewhere?.(callId, action, args);
  }

  /** `POST /dialog/ring`: true when a 180 was sent. */
  ring(callId: string, alertInfo?: string): boolean | Promise<boolean> {
    const remote = this.#remote(callId, "ring", [callId, alertInfo]);
    return remote ? remote as Promise<boolean> : this.#held(callId).ring(alertInfo);
  }

  answer(callId: string, sdp: string): void | Promise<void> {
    const remote = this.#remote(callId, "answer", [callId, sdp]);
    if (remote) return remote as Promise<void>;
    this.#held(callId).answer(sdp);
  }

  reject(callId: string, code: number, reason?: string): void | Promise<void> {
    const remote = this.#remote(callId, "reject", [callId, code, reason]);
    if (remote) return remote as Promise<void>;
    this.#held(callId).reject(code, reason);
  }

  /** Late offer: the control server's answer, sent in the ACK. */
  ack(callId: string, sdp: string): void | Promise<void> {
    const remote = this.#remote(callId, "ack", [callId, sdp]);
    if (remote) return remote as Promise<void>;
    const call = this.#get(callId).call;
    if (!(call instanceof OutboundCall)) throw new CallError(409, `call ${callId} was not placed`);
    call.ack(sdp);
  }

  hangup(callId: string): void | Promise<void> {
    const remote = this.#remote(callId, "hangup", [callId]);
    if (remote) return remote as Promise<void>;
    this.#get(callId).call.hangup();
  }

  /** RFC 3515: transfers an answered call; its progress comes as `transfer` events. */
  refer(callId: string, to: string): Promise<number> {
    const remote = this.#remote(callId, "refer", [callId, to]);
    if (remote) return remote as Promise<number>;
    const { call, domain } = this.#get(callId);
    if (call.state !== "confirmed" || !call.session) {
      throw new CallError(409, `call ${callId} is not answered`);
    }
    return call.session.refer(to.includes("@") ? `sip:${to}` : `sip:${to}@${formatHost(domain)}`);
  }

  /** A request inside one of our dialogs goes to its call; false when it is not ours. */
  receive(
    request: SipRequest,
    flow: Flow,
    respond: ((r: SipResponse) => void) | undefined,
  ): boolean {
    if (this.#calls.size === 0) return false;
    let callId: string;
    try {
      callId = request.callId;
    } catch {
      return false; // malformed: the router answers it
    }
    const session = this.#calls.get(callId)?.call.session;
    if (!session?.dialog.matches(request)) return false;
    session.receive(request, flow, respond);
    return true;
  }

  /** The proxy's inbound hook: a domain with `calls: true` asks its control server first. */
  offer(
    request: SipRequest,
    uri: SipUri,
    flow: Flow,
    tx: Responder,
    resume: (to?: string) => void,
  ): boolean {
    const decide = this.decide;
    if (!decide || this.#calls.has(request.callId)) return false;
    const entry = this.#controlledDomain(request.from.uri.host) ??
      this.#controlledDomain(uri.host);
    // Asked even when api.max_calls calls are open: a proxy, retarget or reject needs no slot.
    if (!entry) return false;
    let cancelled = false;
    tx.listenForCancel(() => {
      cancelled = true;
      tx.respond(createFinal(request, 487));
    });
    const info = inboundInfo(request, uri, flow, entry);
    const waitMs = this.#deps.config().api.decisionTimeoutMs;
    let timer: TimerHandle | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = this.#deps.transactions.scheduler.schedule(waitMs, () => resolve(undefined));
    });
    Promise.race([decide(info).catch(() => undefined), timeout]).then((decision) => {
      this.#deps.transactions.scheduler.cancel(timer);
      if (cancelled) return;
      tx.listenForCancel(undefined);
      this.#act(decision, request, flow, tx, resume, entry);
    });
    return true;
  }

  /** Shutdown: every call's timers stop. */
  close(): void {
    for (const { call } of this.#calls.values()) call.close();
    this.slots.give(this.#calls.size);
    this.#calls.clear();
  }

  // --- CallSink ---

  report(callId: string, event: Omit<CallEvent, "at">): void {
    const entry = this.#calls.get(callId);
    if (!entry) return;
    const at = this.#deps.now();
    const { sdp: _sdp, ...listed } = event;
    entry.view.events = [...(entry.view.events ?? []), { ...listed, at }];
    if (event.event === "answered") entry.view.answeredAt = at;
    if (event.event === "failed" || event.event === "ended") entry.view.endedAt = at;
    this.changed(callId);
    this.#publish(callId, entry.control, entry.domain, event, at);
  }

  changed(callId: string): void {
    const entry = this.#calls.get(callId);
    if (!entry) return;
    const call = entry.call;
    entry.view.callState = call.state;
    entry.view.state = call.state === "ended"
      ? "terminated"
      : call.state === "answered" || call.state === "confirmed"
      ? "confirmed"
      : "early";
    entry.view.legs = call.legs();
    this.#deps.dialogs.put({ ...entry.view });
  }

  finished(callId: string): void {
    this.changed(callId);
    this.#remove(callId);
  }

  /** The call is no longer ours: its slot goes back. */
  #remove(callId: string): void {
    if (this.#calls.delete(callId)) this.slots.give();
  }

  // --- internals ---

  /** 404 unless the request's domain and user are ours. */
  #check(req: OriginateRequest, at: string): Checked {
    const deps = this.#deps;
    const domain = req.domain.toLowerCase();
    if (!servesDomain(deps.config().sip.domains, deps.store, domain)) {
      throw new CallError(404, `no such domain: ${req.domain}`, `${at}domain`);
    }
    if (!deps.store.getAccount(domain, req.to)) {
      throw new CallError(404, `no such user: ${req.to}@${domain}`, `${at}to`);
    }
    return { req, domain, control: req.control ?? deps.store.getDomain(domain)?.control, at };
  }

  /** The callee's bindings; 409 and a `failed` event when it has none. */
  #route(checked: Checked): Prepared {
    const { req, domain, control, at } = checked;
    const callId = newCallId("sipws", 20);
    try {
      const hops = this.#deps.bindingHops(parseUri(`sip:${req.to}@${formatHost(domain)}`));
      return { ...checked, callId, hops };
    } catch (error) {
      if (!(error instanceof SipError)) throw error;
      this.#publish(callId, control, domain, {
        event: "failed",
        code: error.status,
        reason: error.reason,
      });
      throw new CallError(409, `${req.to}@${domain} is not registered`, `${at}to`, callId);
    }
  }

  /** Places the call; `added()` once it holds a slot (given back when the call is removed). */
  #place({ req, domain, control, callId, hops, at }: Prepared, added: () => void): Originated {
    const call = new OutboundCall(this.#deps, this, {
      callId,
      domain,
      user: req.to,
      ...callerHeaders(req, domain),
      maxForwards: req.maxForwards ?? 70,
      sdp: req.sdp,
      timeoutMs: (req.timeout ?? 60) * 1000,
      hops,
    }, newTag());
    const from = req.callerId?.number ?? req.from ?? "";
    this.#add(call, { control, domain }, `${from}@${domain}`, `${req.to}@${domain}`, "api");
    added();
    if (!call.start()) {
      this.#remove(callId);
      this.#publish(callId, control, domain, {
        event: "failed",
        code: 480,
        reason: "Temporarily Unavailable",
      });
      throw new CallError(409, `no binding of ${req.to}@${domain} is reachable`, `${at}to`, callId);
    }
    return { callid: callId, legs: call.legs(), ...(control ? { control } : {}) };
  }

  #act(
    decision: Decision | undefined,
    request: SipRequest,
    flow: Flow,
    tx: Responder,
    resume: (to?: string) => void,
    owner: { control: string; domain: string },
  ): void {
    try {
      if (decision?.action === "reject") {
        tx.respond(createFinal(request, decision.code, decision.reason));
      } else if (
        decision?.action === "hold" && this.slots.take(1, this.#deps.config().api.maxCalls)
      ) {
        let call: HeldCall;
        try {
          call = new HeldCall(this.#deps, this, request, flow, tx);
        } catch (error) {
          this.slots.give();
          throw error;
        }
        const from = request.from.uri;
        const to = request.to.uri;
        this.#add(
          call,
          owner,
          `${from.user ?? ""}@${from.host}`,
          `${to.user ?? ""}@${to.host}`,
          flow,
        );
        call.start();
      } else {
        // No decision, or a hold with api.max_calls calls open: the call goes on as usual.
        if (decision?.action === "hold") {
          log.warn(`api.max_calls reached: ${request.callId} proxied`);
        }
        resume(decision?.action === "proxy" ? decision.to : undefined);
      }
    } catch (error) {
      log.warn(`inbound call ${request.callId}: ${String(error)}`);
    }
  }

  #controlledDomain(host: string): { domain: string; control: string } | undefined {
    const entry = this.#deps.store.getDomain(host);
    return entry?.calls && entry.control
      ? { domain: entry.domain, control: entry.control }
      : undefined;
  }

  #add(
    call: Call,
    owner: { control?: string; domain: string },
    from: string,
    to: string,
    caller: Flow | "api",
  ) {
    const control = owner.control;
    const view: DialogView = {
      callId: call.callId,
      from,
      to,
      state: "early",
      caller: caller === "api" ? { transport: "api", remote: control ?? "" } : {
        transport: caller.transport,
        remote: `${formatHost(caller.remote.host)}:${caller.remote.port}`,
      },
      startedAt: this.#deps.now(),
      kind: call.kind,
      events: [],
    };
    this.#calls.set(call.callId, { call, control, domain: owner.domain, view });
  }

  #publish(
    callId: string,
    control: string | undefined,
    domain: string,
    event: Omit<CallEvent, "at">,
    at?: number,
  ) {
    this.#deps.events.emit({
      type: "call.event",
      callId,
      domain,
      ...(control ? { control } : {}),
      event: { ...event, at: at ?? this.#deps.now() },
    });
  }

  #get(callId: string): Entry {
    const entry = this.#calls.get(callId);
    if (!entry) throw new CallError(404, `no such call: ${callId}`, "callid");
    return entry;
  }

  #held(callId: string): HeldCall {
    const call = this.#get(callId).call;
    if (!(call instanceof HeldCall)) throw new CallError(409, `call ${callId} is not held`);
    return call;
  }
}

function createFinal(request: SipRequest, code: number, reason?: string): SipResponse {
  return createResponse(request, code, reason, newTag());
}
