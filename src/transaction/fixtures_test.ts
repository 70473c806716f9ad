/**
 * @module Shared fakes for the transaction tests: a recording MessageSender that stamps each
 * send with the manual clock's time (and can be told to fail), flows, request/response
 * builders, and a layer wired to a ManualClock. Test-only; imported by the *_test.ts files.
 */
import assert from "node:assert/strict";
import { createResponse, type SipMessage, SipRequest, type SipResponse } from "../sip/message.ts";
import type { Address, Flow, MessageSender, Target, TransportName } from "../transport/types.ts";
import { type ClientHandlers, TransactionLayer } from "./layer.ts";
import type { ServerTransaction, TerminationReason } from "./server.ts";
import { type Clock, ManualClock } from "./timers.ts";

export const T1 = 500;
export const T2 = 4000;
export const T4 = 5000;

export function makeFlow(transport: TransportName = "udp", id = `${transport}:1`): Flow {
  return {
    id,
    transport,
    local: { host: "127.0.0.1", port: 5060 },
    remote: { host: "127.0.0.1", port: 40000 },
    reliable: transport !== "udp",
    secure: transport === "tls" || transport === "wss",
  };
}

export const udp = makeFlow("udp");
export const tcp = makeFlow("tcp");

export interface Sent {
  message: SipMessage;
  target: Target;
  at: number;
}

export class RecordingSender implements MessageSender {
  sent: Sent[] = [];
  /** When set, every send rejects with this error (after recording it). */
  failWith: Error | undefined;
  #clock: Clock;
  constructor(clock: Clock) {
    this.#clock = clock;
  }
  send(message: SipMessage, target: Target): Promise<Flow> {
    this.sent.push({ message, target, at: this.#clock.now() });
    if (this.failWith) return Promise.reject(this.failWith);
    if ("flow" in target) return Promise.resolve(target.flow);
    return Promise.resolve(makeFlow(target.transport, `${target.transport}:out`));
  }
  localAddress(_t: TransportName): Address | undefined {
    return { host: "127.0.0.1", port: 5060 };
  }
  /** Responses sent, as "status" strings, e.g. ["100", "486"]. */
  statuses(): string[] {
    return this.sent.map((s) => s.message.isRequest ? s.message.method : String(s.message.status));
  }
  times(): number[] {
    return this.sent.map((s) => s.at);
  }
  clear(): void {
    this.sent = [];
  }
}

export interface RequestSpec {
  branch?: string;
  sentBy?: string;
  callId?: string;
  cseq?: number;
  fromTag?: string;
  toTag?: string;
  uri?: string;
  /** Full top Via value (overrides branch/sentBy). */
  via?: string;
}

export function makeRequest(method: string, spec: RequestSpec = {}): SipRequest {
  const req = new SipRequest(method, spec.uri ?? "sip:bob@example.com");
  const branch = spec.branch ?? "z9hG4bKabc123";
  req.append(
    "Via",
    spec.via ?? `SIP/2.0/UDP ${spec.sentBy ?? "10.0.0.1:5060"};branch=${branch}`,
  );
  req.append("Max-Forwards", "70");
  req.append("From", `<sip:alice@example.com>;tag=${spec.fromTag ?? "f1"}`);
  req.append("To", `<sip:bob@example.com>${spec.toTag ? `;tag=${spec.toTag}` : ""}`);
  req.append("Call-ID", spec.callId ?? "call-1");
  req.append("CSeq", `${spec.cseq ?? 1} ${method}`);
  return req;
}

/** A response to `request` (To tag added for > 100). */
export function reply(request: SipRequest, status: number, toTag = "t9"): SipResponse {
  return createResponse(request, status, undefined, toTag);
}

/** Lets rejected sends reach their catch handlers. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

export interface Received {
  request: SipRequest;
  flow: Flow;
  tx: ServerTransaction | undefined;
}

export function setup(options: { timerD?: number } = {}) {
  const clock = new ManualClock();
  const sender = new RecordingSender(clock);
  const layer = new TransactionLayer({ sender, t1: T1, t2: T2, t4: T4, clock, ...options });
  const received: Received[] = [];
  const stray: SipResponse[] = [];
  layer.onRequest = (request, flow, tx) => received.push({ request, flow, tx });
  layer.onStrayResponse = (response) => stray.push(response);
  const deliver = (message: SipMessage, flow: Flow = udp) =>
    layer.receive({ message, flow, receivedAt: clock.now() });
  return { clock, sender, layer, received, stray, deliver };
}

/** Delivers a new request and returns it with the server transaction the TU got. */
export function serverTx(
  env: ReturnType<typeof setup>,
  method = "INVITE",
  spec: RequestSpec = {},
  flow: Flow = udp,
) {
  const req = makeRequest(method, spec);
  env.deliver(req, flow);
  const got = env.received.at(-1);
  assert.ok(got?.tx, `${method} reaches the TU with a transaction`);
  return { req, tx: got.tx };
}

/** Client handlers that record what the transaction reports. */
export function recordingHandlers() {
  const log: { responses: SipResponse[]; timeouts: number; errors: Error[] } = {
    responses: [],
    timeouts: 0,
    errors: [],
  };
  const handlers: ClientHandlers = {
    onResponse: (r) => log.responses.push(r),
    onTimeout: () => log.timeouts++,
    onTransportError: (e) => log.errors.push(e),
  };
  return { log, handlers };
}

/** Attaches an onTerminated recorder to a server transaction. */
export function watchTermination(tx: ServerTransaction): TerminationReason[] {
  const reasons: TerminationReason[] = [];
  tx.onTerminated = (r) => reasons.push(r);
  return reasons;
}

Deno.test("fixtures: recording sender stamps sends with the manual clock", async () => {
  const clock = new ManualClock();
  const sender = new RecordingSender(clock);
  clock.advance(30);
  const flow = await sender.send(makeRequest("OPTIONS"), { flow: tcp });
  assert.equal(flow, tcp);
  assert.deepEqual(sender.times(), [30]);
  sender.failWith = new Error("down");
  await assert.rejects(sender.send(makeRequest("OPTIONS"), { flow: tcp }), /down/);
});
