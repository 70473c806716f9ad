/**
 * @module Calls driven over HTTP (the mediaswitch `/dialog` API): `POST /dialog/invite`
 * originates (one object or an array of them), `POST /dialog/ring` sends a held call's
 * 180, `POST /dialog/{callid}/ack|answer|reject|refer` and `DELETE /dialog/{callid}` act
 * on one call. This file reads and checks the bodies (every error names its field) and
 * calls the server's call control; progress goes to the control server as events, not in
 * these answers.
 */
import type { Context, Hono } from "hono";
import type { OriginateRequest } from "../core/calls/originate_request.ts";
import type { ApiServer } from "./app.ts";
import { parseControl } from "./directory.ts";
import {
  invalidField,
  isObject,
  type JsonObject,
  objectBody,
  onlyKeys,
  optionalString,
  parseJsonBody,
} from "./errors.ts";

const ORIGINATE_FIELDS = [
  "domain",
  "to",
  "from",
  "maxforwards",
  "callerid",
  "control",
  "sdp",
  "headers",
  "timeout",
] as const;

/** Extra SIP headers an originate request may add (never routing or dialog headers). */
const ALLOWED_HEADERS = new Set([
  "alert-info",
  "call-info",
  "subject",
  "priority",
  "organization",
  "user-to-user",
  "answer-mode",
  "priv-answer-mode",
]);

/** A SIP user part (RFC 3261 §25.1 unreserved / user-unreserved / escaped). */
const USER = /^[A-Za-z0-9_.!~*'()&=+$,;?\/%-]+$/;
/** A user, or user@domain: where a transfer or a retargeted call goes. */
export const CALL_TARGET = /^[A-Za-z0-9_.!~*'()&=+$,;?\/%-]+(@[A-Za-z0-9.-]+)?$/;
const DOMAIN = /^[A-Za-z0-9.-]+$/;

function requiredString(obj: JsonObject, key: string, at: string, pattern?: RegExp): string {
  const value = optionalString(obj, key, `${at}${key}`);
  if (value === undefined || value === "") throw invalidField(`${at}${key}`, "is required");
  if (pattern && !pattern.test(value)) throw invalidField(`${at}${key}`, "has invalid characters");
  return value;
}

function optionalInt(obj: JsonObject, key: string, field: string, min: number, max: number) {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw invalidField(field, `must be an integer ${min}..${max}`);
  }
  return value;
}

function sdpField(obj: JsonObject, field: string, required: boolean): string | undefined {
  const sdp = optionalString(obj, "sdp", field);
  if (sdp === undefined || sdp === "") {
    if (required) throw invalidField(field, "is required");
    return undefined;
  }
  if (!/^v=0/.test(sdp.trimStart())) throw invalidField(field, "must be an SDP (v=0 ...)");
  return sdp.replace(/\r?\n/g, "\r\n");
}

function headersField(value: unknown, at: string): [string, string][] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) throw invalidField(`${at}headers`, "must be an object {name: value}");
  return Object.entries(value).map(([name, v]) => {
    const field = `${at}headers.${name}`;
    const key = name.toLowerCase();
    if (!ALLOWED_HEADERS.has(key) && !/^x-[a-z0-9-]+$/.test(key)) {
      throw invalidField(field, "is not an allowed header");
    }
    if (typeof v !== "string" || /[\r\n]/.test(v) || v.length > 1024) {
      throw invalidField(field, "must be a one-line string");
    }
    return [name, v];
  });
}

function callerIdField(value: unknown, at: string): OriginateRequest["callerId"] {
  if (value === undefined || value === null) return undefined;
  const field = `${at}callerid`;
  if (!isObject(value)) throw invalidField(field, "must be an object");
  onlyKeys(value, ["number", "name", "private"], `${field}.`);
  const number = optionalString(value, "number", `${field}.number`);
  if (number !== undefined && !USER.test(number)) {
    throw invalidField(`${field}.number`, "has invalid characters");
  }
  const name = optionalString(value, "name", `${field}.name`);
  if (name !== undefined && /[\r\n]/.test(name)) {
    throw invalidField(`${field}.name`, "must be one line");
  }
  if (value.private !== undefined && typeof value.private !== "boolean") {
    throw invalidField(`${field}.private`, "must be true or false");
  }
  return { number, name, private: value.private === true };
}

/** One originate entry; `at` prefixes field names (`[1].to`). */
export function parseOriginate(item: unknown, at: string): OriginateRequest {
  if (!isObject(item)) throw invalidField(at.replace(/\.$/, "") || "(body)", "must be an object");
  onlyKeys(item, ORIGINATE_FIELDS, at);
  const from = optionalString(item, "from", `${at}from`);
  if (from !== undefined && from !== "" && !USER.test(from)) {
    throw invalidField(`${at}from`, "has invalid characters");
  }
  return {
    domain: requiredString(item, "domain", at, DOMAIN),
    to: requiredString(item, "to", at, USER),
    from: from || undefined,
    maxForwards: optionalInt(item, "maxforwards", `${at}maxforwards`, 1, 255),
    callerId: callerIdField(item.callerid, at),
    control: parseControl(item.control, `${at}control`),
    sdp: sdpField(item, `${at}sdp`, false),
    headers: headersField(item.headers, at),
    timeout: optionalInt(item, "timeout", `${at}timeout`, 1, 3600),
  };
}

function callId(c: Context): string {
  return c.req.param("callid")!;
}

export function callRoutes(app: Hono, server: ApiServer): void {
  app.post("/dialog/invite", async (c) => {
    const doc = parseJsonBody(await c.req.text());
    const single = !Array.isArray(doc);
    const items = single ? [doc] : doc as unknown[];
    if (items.length === 0) throw invalidField("(body)", "must not be an empty array");
    const at = (i: number) => single ? "" : `[${i}].`;
    const requests = items.map((item, i) => parseOriginate(item, at(i)));
    // All or nothing: nothing is sent unless every entry can be placed.
    const placed = server.calls.originate(requests, at);
    return c.json(single || placed.length === 1 ? placed[0] : { calls: placed }, 201);
  });

  app.post("/dialog/ring", async (c) => {
    const body = objectBody(await c.req.text());
    onlyKeys(body, ["callid", "alertinfo"]);
    const id = requiredString(body, "callid", "");
    const alertInfo = optionalString(body, "alertinfo");
    if (alertInfo !== undefined && /[\r\n]/.test(alertInfo)) {
      throw invalidField("alertinfo", "must be one line");
    }
    const ringing = await server.calls.ring(id, alertInfo || undefined);
    return c.json({ callid: id, ringing });
  });

  app.post("/dialog/:callid/ack", async (c) => {
    const body = objectBody(await c.req.text());
    onlyKeys(body, ["sdp"]);
    await server.calls.ack(callId(c), sdpField(body, "sdp", true)!);
    return c.json({ callid: callId(c), acked: true });
  });

  app.post("/dialog/:callid/answer", async (c) => {
    const body = objectBody(await c.req.text());
    onlyKeys(body, ["sdp"]);
    await server.calls.answer(callId(c), sdpField(body, "sdp", true)!);
    return c.json({ callid: callId(c), answered: true });
  });

  app.post("/dialog/:callid/reject", async (c) => {
    const body = objectBody(await c.req.text());
    onlyKeys(body, ["code", "reason"]);
    const code = optionalInt(body, "code", "code", 300, 699);
    if (code === undefined) throw invalidField("code", "is required");
    const reason = optionalString(body, "reason");
    if (reason !== undefined && /[\r\n]/.test(reason)) {
      throw invalidField("reason", "must be one line");
    }
    await server.calls.reject(callId(c), code, reason || undefined);
    return c.json({ callid: callId(c), rejected: code });
  });

  app.post("/dialog/:callid/refer", async (c) => {
    const body = objectBody(await c.req.text());
    onlyKeys(body, ["to"]);
    const to = requiredString(
      body,
      "to",
      "",
      CALL_TARGET,
    );
    const status = await server.calls.refer(callId(c), to);
    return c.json({ callid: callId(c), status });
  });

  app.delete("/dialog/:callid", async (c) => {
    await server.calls.hangup(callId(c));
    return c.json({ callid: callId(c), hungup: true });
  });
}
