/**
 * @module The OpenAPI paths and schemas of calls driven over HTTP: originate,
 * ring, ack, answer, reject, refer, hang up, the dialog list, plus the two requests sipws
 * makes of a control server (`POST {control}/invite`, `POST {control}/dialog/{callid}`),
 * described as schemas. Data only; openapi.ts merges it into the document.
 */
import { body, errors, json, pathParam, ref, type Schema } from "./openapi.ts";

// openapi.ts imports this module: its helpers are only read inside the functions below.
const SDP: Schema = { type: "string", description: "an SDP (v=0 ...)" };
const STRING: Schema = { type: "string" };
const INTEGER: Schema = { type: "integer" };

export function callPaths(): Record<string, unknown> {
  const callid = pathParam("callid", "Call-ID from POST /dialog/invite or sent to /invite");
  const notFound = { "404": json(ref("Error"), "unknown call") };
  const conflict = { "409": json(ref("Error"), "the call is not in a state for this") };
  /** `{callid, <what>: <type>}`: the answer of an action on one call. */
  const done = (what: string, schema: Schema) =>
    json({
      type: "object",
      required: ["callid", what],
      properties: { callid: STRING, [what]: schema },
    });
  return {
    "/dialog": {
      get: {
        summary: "Dialogs: proxied ones and calls driven over HTTP (state, legs, events, " +
          "setupMs/talkMs durations); terminated ones linger briefly; in a cluster every " +
          "node's proxied dialogs, each row with its `node`",
        responses: {
          "200": json({
            type: "object",
            properties: { count: INTEGER, dialogs: { type: "array", items: ref("Dialog") } },
          }),
          ...errors,
        },
      },
    },
    "/dialog/invite": {
      post: {
        summary: "Originate: an INVITE to every binding of to@domain (forking); one object " +
          "or an array (all or nothing: every entry is checked before any INVITE). " +
          "Without sdp a late offer: the control server gets " +
          "the callee's offer in `answered` and posts its answer to /dialog/{callid}/ack " +
          "within api.ack_timeout, else sipws sends ACK + BYE. Progress goes to the control " +
          "server as CallEvent posts.",
        requestBody: body({
          oneOf: [ref("OriginateRequest"), { type: "array", items: ref("OriginateRequest") }],
        }),
        responses: {
          "201": json(ref("Originated"), "Placed (several: {calls: [...]})"),
          ...errors,
          "404": json(ref("Error"), "unknown domain or user (field names which)"),
          "409": json(ref("Error"), "the user is not registered (a failed 480 event is sent)"),
          "503": json(ref("Error"), "more than api.max_calls calls are open"),
        },
      },
    },
    "/dialog/ring": {
      post: {
        summary: "A held inbound call rings: 180 with Alert-Info, only while neither " +
          "ringing nor answered (`ringing: false` otherwise)",
        requestBody: body({
          type: "object",
          required: ["callid"],
          properties: { callid: STRING, alertinfo: STRING },
        }),
        responses: {
          "200": done("ringing", { type: "boolean", description: "false: already ringing" }),
          ...errors,
          ...notFound,
          ...conflict,
        },
      },
    },
    "/dialog/{callid}": {
      parameters: [callid],
      delete: {
        summary: "Hang up: CANCEL before the answer, BYE after (a held call not yet " +
          "answered gets 480)",
        responses: { "200": done("hungup", { const: true }), ...errors, ...notFound },
      },
    },
    "/dialog/{callid}/ack": {
      parameters: [callid],
      post: {
        summary: "Late offer: the answer to the callee's offer, sent in the ACK",
        requestBody: body({ type: "object", required: ["sdp"], properties: { sdp: SDP } }),
        responses: { "200": done("acked", { const: true }), ...errors, ...notFound, ...conflict },
      },
    },
    "/dialog/{callid}/answer": {
      parameters: [callid],
      post: {
        summary: "Answer a held inbound call with this SDP: sipws is its UAS from then on",
        requestBody: body({ type: "object", required: ["sdp"], properties: { sdp: SDP } }),
        responses: {
          "200": done("answered", { const: true }),
          ...errors,
          ...notFound,
          ...conflict,
        },
      },
    },
    "/dialog/{callid}/reject": {
      parameters: [callid],
      post: {
        summary: "Reject a held inbound call with a final status",
        requestBody: body({
          type: "object",
          required: ["code"],
          properties: { code: { type: "integer", minimum: 300, maximum: 699 }, reason: STRING },
        }),
        responses: {
          "200": done("rejected", { type: "integer", description: "the status sent" }),
          ...errors,
          ...notFound,
          ...conflict,
        },
      },
    },
    "/dialog/{callid}/refer": {
      parameters: [callid],
      post: {
        summary: "Transfer an answered call, placed or held (REFER, RFC 3515); answers the " +
          "REFER's final status; the callee's NOTIFYs come as `transfer` CallEvents",
        requestBody: body({
          type: "object",
          required: ["to"],
          properties: { to: { type: "string", description: "user or user@domain" } },
        }),
        responses: { "200": json(ref("ReferResult")), ...errors, ...notFound, ...conflict },
      },
    },
  };
}

export function callSchemas(): Record<string, Schema> {
  return {
    OriginateRequest: {
      type: "object",
      required: ["domain", "to"],
      properties: {
        domain: STRING,
        to: { type: "string", description: "the callee, a user of domain" },
        from: { type: "string", description: "the caller's user (default caller id number)" },
        maxforwards: { type: "integer", minimum: 1, maximum: 255, default: 70 },
        callerid: {
          type: "object",
          properties: {
            number: STRING,
            name: STRING,
            private: {
              type: "boolean",
              description: 'From "Anonymous" <sip:anonymous@anonymous.invalid>, Privacy: id, ' +
                "identity in P-Asserted-Identity",
            },
          },
        },
        control: {
          description: "events go here (default: the domain's control server)",
          oneOf: [{ type: "string", format: "uri" }, {
            type: "object",
            required: ["host", "port"],
            properties: { host: STRING, port: INTEGER },
          }],
        },
        sdp: SDP,
        headers: {
          type: "object",
          description: "extra SIP headers: Alert-Info, Call-Info, Subject, Priority, " +
            "Organization, User-to-User, Answer-Mode, Priv-Answer-Mode, X-*",
          additionalProperties: STRING,
        },
        timeout: {
          type: "integer",
          minimum: 1,
          maximum: 3600,
          default: 60,
          description: "seconds of ringing before CANCEL",
        },
      },
    },
    Originated: {
      type: "object",
      properties: {
        callid: STRING,
        control: STRING,
        legs: { type: "array", items: ref("CallLeg") },
      },
    },
    CallLeg: {
      type: "object",
      properties: {
        target: STRING,
        transport: STRING,
        remote: STRING,
        state: { type: "string", enum: ["calling", "ringing", "answered", "failed", "cancelled"] },
        status: INTEGER,
      },
    },
    Dialog: {
      type: "object",
      required: ["callId", "from", "to", "state", "caller", "startedAt", "durations"],
      properties: {
        callId: STRING,
        from: { type: "string", description: "user@domain" },
        to: { type: "string", description: "user@domain" },
        state: { type: "string", enum: ["early", "confirmed", "terminated"] },
        kind: { type: "string", enum: ["proxied", "originated", "held"] },
        caller: ref("DialogLeg"),
        callee: ref("DialogLeg"),
        startedAt: { type: "integer", description: "epoch ms" },
        answeredAt: { type: "integer", description: "epoch ms" },
        endedAt: { type: "integer", description: "epoch ms" },
        durations: {
          type: "object",
          properties: {
            setupMs: { type: "integer", description: "start to answer (or end, or now)" },
            talkMs: { type: "integer", description: "answer to end (or now); 0 unanswered" },
          },
        },
        callState: {
          type: "string",
          description: "API calls: calling, held, ringing, answered, confirmed or ended",
        },
        legs: { type: "array", items: ref("CallLeg"), description: "API calls" },
        events: {
          type: "array",
          description: "API calls: the CallEvents so far (without callid and sdp)",
          items: {
            type: "object",
            properties: { event: STRING, code: INTEGER, reason: STRING, at: INTEGER },
          },
        },
      },
    },
    DialogLeg: {
      type: "object",
      properties: {
        transport: { type: "string", description: "udp, tcp, tls, ws, wss (api: sipws placed it)" },
        remote: { type: "string", description: "host:port (api: the control URL)" },
      },
    },
    ReferResult: { type: "object", properties: { callid: STRING, status: INTEGER } },
    CallEvent: {
      type: "object",
      description: "sipws → POST {control}/dialog/{callid}, in order, with the callback " +
        "retry/backoff",
      required: ["callid", "event", "at"],
      properties: {
        callid: STRING,
        event: {
          type: "string",
          enum: ["trying", "ringing", "answered", "failed", "ended", "transfer"],
          description: "transfer: a NOTIFY of a REFER's progress (code and reason are its " +
            "message/sipfrag status line, e.g. 100 Trying, 200 OK)",
        },
        code: INTEGER,
        reason: STRING,
        sdp: SDP,
        at: { type: "integer", description: "epoch ms" },
      },
    },
    InboundOffer: {
      type: "object",
      description: "sipws → POST {control}/invite for a domain with calls: true; the " +
        "answer (InboundDecision) must come within api.decision_timeout_ms, else the call " +
        "is proxied",
      properties: {
        callid: STRING,
        domain: STRING,
        from: STRING,
        to: STRING,
        callerid: { type: "object", properties: { number: STRING, name: STRING } },
        sdp: SDP,
        remote: { type: "object", properties: { host: STRING, port: INTEGER } },
        agent: STRING,
      },
    },
    InboundDecision: {
      type: "object",
      required: ["action"],
      properties: {
        action: { type: "string", enum: ["proxy", "reject", "hold"] },
        to: { type: "string", description: "proxy: retarget to this user" },
        code: { type: "integer", minimum: 300, maximum: 699, default: 486 },
        reason: STRING,
      },
    },
  };
}
