/**
 * @module Raw SIP text for calls through the proxy in integration tests: a request from a
 * `TestSipClient` (its Via with a fresh branch and rport), a UA's response to a request it
 * received, message matchers, the caller's INVITE → 407 → ACK → INVITE with credentials
 * dance, a MESSAGE sent with credentials and one received, and Call-IDs a given worker owns. Builds and sends test traffic only; asserts nothing about the server's answers
 * beyond the challenge it must send first. Not a product component.
 */
import assert from "node:assert/strict";
import type { SipMessage, SipRequest, SipResponse } from "../../src/sip/message.ts";
import { callIdValueHash, callOwner } from "../../src/sip/call_id_hash.ts";
import { answerChallenge, type TestSipClient } from "./sip_client.ts";

/** The identifiers of one call leg from the caller's side; `cseq` moves on as it goes. */
export interface Call {
  callId: string;
  fromTag: string;
  cseq: number;
}

/** A fresh RFC 3261 branch (magic cookie + random). */
export function newBranch(): string {
  return "z9hG4bK" + crypto.randomUUID().replaceAll("-", "").slice(0, 16);
}

export interface RequestOptions {
  method: string;
  uri: string;
  from: string;
  to: string;
  call: Call;
  branch?: string;
  contact?: string;
  extra?: string[];
  /** An SDP body (Content-Type application/sdp); none by default. */
  body?: string;
}

/** A request from `client` with its own Via; Content-Length counts UTF-8 bytes. */
export function sipRequest(client: TestSipClient, o: RequestOptions): string {
  const body = o.body ?? "";
  return [
    `${o.method} ${o.uri} SIP/2.0`,
    `Via: ${client.via};branch=${o.branch ?? newBranch()};rport`,
    "Max-Forwards: 70",
    `From: ${o.from}`,
    `To: ${o.to}`,
    `Call-ID: ${o.call.callId}`,
    `CSeq: ${o.call.cseq} ${o.method}`,
    ...(o.contact ? [`Contact: <${o.contact}>`] : []),
    ...(o.extra ?? []),
    ...(body ? ["Content-Type: application/sdp"] : []),
    `Content-Length: ${new TextEncoder().encode(body).length}`,
    "",
    body,
  ].join("\r\n");
}

/** A response from a UA to a request it received (copies Via, From, To, Call-ID, CSeq). */
export function sipReply(
  req: SipRequest,
  status: number,
  reason: string,
  o: { toTag?: string; extra?: string[]; body?: string } = {},
): string {
  let to = req.get("to")!;
  if (o.toTag && !/;tag=/.test(to)) to += `;tag=${o.toTag}`;
  const body = o.body ?? "";
  return [
    `SIP/2.0 ${status} ${reason}`,
    ...req.getAll("via").map((v) => `Via: ${v}`),
    `From: ${req.get("from")}`,
    `To: ${to}`,
    `Call-ID: ${req.callId}`,
    `CSeq: ${req.get("cseq")}`,
    ...(o.extra ?? []),
    `Content-Length: ${new TextEncoder().encode(body).length}`,
    "",
    body,
  ].join("\r\n");
}

/** Matches a request of `method` (in call `callId` when given). */
export const isReq = (method: string, callId?: string) => (m: SipMessage): boolean =>
  m.isRequest && m.method === method && (callId === undefined || m.callId === callId);

/** Matches a response with `status` to a `method` request of call `callId`. */
export const isRes = (status: number, callId: string, method = "INVITE") => (m: SipMessage) =>
  !m.isRequest && m.status === status && m.callId === callId && m.cseq.method === method;

/**
 * Sends an INVITE from `who` to `target`, checks the proxy challenges with MD5 first, ACKs
 * the 407 (§17.1.1.3: same branch) and sends the INVITE again with credentials; `call.cseq`
 * ends at the authenticated INVITE's.
 */
export async function inviteWithAuth(
  caller: TestSipClient,
  call: Call,
  who: { user: string; domain: string; password: string },
  target: string,
  extra: string[] = [],
  body = "",
): Promise<void> {
  const from = `<sip:${who.user}@${who.domain}>;tag=${call.fromTag}`;
  const invite = {
    method: "INVITE",
    uri: target,
    from,
    to: `<${target}>`,
    call,
    contact: caller.contactUri,
    body,
  };
  const firstBranch = newBranch();
  await caller.send(sipRequest(caller, { ...invite, branch: firstBranch, extra }));
  const challenge = await caller.wait(isRes(407, call.callId)) as SipResponse;
  assert.match(challenge.getAll("proxy-authenticate")[0], /algorithm=MD5/, "MD5 challenged first");
  const challengedTo = challenge.get("to")!;
  await caller.send(
    sipRequest(caller, {
      method: "ACK",
      uri: target,
      from,
      to: challengedTo,
      call,
      branch: firstBranch,
    }),
  );
  call.cseq++;
  const auth = answerChallenge(challenge, { ...who, method: "INVITE", uri: target });
  await caller.send(
    sipRequest(caller, { ...invite, extra: [...extra, `Proxy-Authorization: ${auth}`] }),
  );
}

/** A Call-ID that worker `worker` (0: the main thread) of `count` owns (`callOwner`). */
export function callIdFor(worker: number, prefix: string, count = 2): string {
  for (;;) {
    const id = `${prefix}-${crypto.randomUUID().slice(0, 8)}@test`;
    if (callOwner(callIdValueHash(id), count) === worker) return id;
  }
}

/**
 * A MESSAGE from `client` (as `who`) to `to`, answering the 407; returns the final.
 * `callId`: a Call-ID of choice (e.g. one a given worker owns).
 */
export async function sendMessage(
  client: TestSipClient,
  who: { user: string; domain: string; password: string },
  to: string,
  text: string,
  callId: string = crypto.randomUUID(),
): Promise<SipResponse> {
  const call: Call = { callId, fromTag: "m" + Date.now(), cseq: 1 };
  const req = (extra: string[] = []) =>
    sipRequest(client, {
      method: "MESSAGE",
      uri: to,
      from: `<sip:${who.user}@${who.domain}>;tag=${call.fromTag}`,
      to: `<${to}>`,
      call,
      extra, // sipRequest labels any body (application/sdp): the text arrives as is
      body: text,
    });
  await client.send(req());
  const challenge = await client.wait(isRes(407, call.callId, "MESSAGE")) as SipResponse;
  call.cseq++;
  const credentials = answerChallenge(challenge, { ...who, method: "MESSAGE", uri: to });
  await client.send(req([`Proxy-Authorization: ${credentials}`]));
  return await client.wait((m) =>
    !m.isRequest && m.callId === call.callId && m.cseq.seq === call.cseq && m.status >= 200
  ) as SipResponse;
}

/** Answers the next MESSAGE `client` receives with 200 and returns its body. */
export async function receiveMessage(client: TestSipClient): Promise<string> {
  const m = await client.wait(isReq("MESSAGE"), 5000) as SipRequest;
  await client.send(sipReply(m, 200, "OK", { toTag: "rx" }));
  return m.bodyText;
}
