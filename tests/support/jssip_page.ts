/**
 * @module Page-side helpers for driving JsSIP user agents in test pages (see
 * tests/support/browser.ts): one UA per page, every RTCSession it sees recorded with its
 * events, received MESSAGEs recorded, and small Deno-side wrappers (`startUa`, `call`,
 * `answer`, `hold`, `terminate`, `sendMessage`, `waitSessionEvent`, `rtpStats`). The page
 * code is a plain-JS string installed once per page as `window.sipwsTest`, because Deno's
 * type libraries have no WebRTC DOM types. JsSIP's transport debug log (every SIP message
 * sent and received) goes to the page console, so `capturePageLog` doubles as a SIP trace.
 * This module never talks to the server itself and holds no state on the Deno side.
 */
import type { Page } from "playwright-core";
import { loadJsSip } from "./browser.ts";
import { until } from "./poll.ts";

export { until };

/** One session event as recorded in the page. */
export interface SessionEvent {
  name: string;
  originator?: string;
  cause?: string;
  /** Status code of the response that caused it, when there was one. */
  status?: number;
}

/** What the page knows about one RTCSession. */
export interface SessionInfo {
  id: number;
  direction: "incoming" | "outgoing";
  callId: string;
  events: SessionEvent[];
  isEstablished: boolean;
  isEnded: boolean;
  onHold: { local: boolean; remote: boolean };
}

/** Media facts read from the session's RTCPeerConnection `getStats()`. */
export interface RtpStats {
  connectionState: string;
  iceConnectionState: string;
  packetsReceived: number;
  packetsSent: number;
  /** Addresses of the selected ICE candidate pair ("" when none is selected yet). */
  localAddress: string;
  remoteAddress: string;
}

/** Options for `startUa`. */
export interface UaOptions {
  /** ws:// or wss:// URL of the server. */
  wsUrl: string;
  /** SIP URI of the user, e.g. `sip:alice@example.test`. */
  uri: string;
  password: string;
  /** Log every SIP message to the page console (JsSIP:Transport debug). Default true. */
  traceSip?: boolean;
  /** Seconds JsSIP waits at least before reconnecting a lost WebSocket (default 30). */
  recoverySeconds?: number;
}

/** A UA-level event the page recorded (`connected`, `disconnected`, `registered`, ...). */
export interface UaEvent {
  name: string;
  /** WebSocket close code and reason of a `disconnected`. */
  code?: number;
  reason?: string;
  /** True for a `disconnected` that was not a clean close (e.g. a refused handshake). */
  error?: boolean;
  /** Epoch ms in the page. */
  at: number;
}

export const MEDIA_OPTIONS = {
  mediaConstraints: { audio: true, video: false },
  pcConfig: { iceServers: [] },
};

const PAGE_SCRIPT = `(() => {
  if (window.sipwsTest) return;
  const MEDIA = ${JSON.stringify(MEDIA_OPTIONS)};
  const T = window.sipwsTest = { ua: null, sessions: [], messages: [], uaEvents: [] };
  const SESSION_EVENTS = ["progress", "accepted", "confirmed", "ended", "failed", "hold",
    "unhold", "reinvite", "update", "sdp"];

  function track(session, direction) {
    const entry = {
      id: T.sessions.length,
      direction,
      session,
      callId: (session._request && session._request.call_id) || "",
      events: [],
    };
    T.sessions.push(entry);
    for (const name of SESSION_EVENTS) {
      session.on(name, (e) => {
        entry.events.push({
          name,
          originator: e && e.originator,
          cause: e && e.cause,
          status: e && e.response && e.response.status_code,
        });
      });
    }
    return entry;
  }

  T.info = (entry) => entry && ({
    id: entry.id,
    direction: entry.direction,
    callId: entry.callId || (entry.session._request && entry.session._request.call_id) || "",
    events: entry.events,
    isEstablished: entry.session.isEstablished(),
    isEnded: entry.session.isEnded(),
    onHold: entry.session.isOnHold(),
  });

  T.startUa = (o) => new Promise((resolve) => {
    if (o.traceSip) {
      // Plain text lines (no %c colour arguments) so the console log reads as a SIP trace.
      JsSIP.debug.formatArgs = function (args) { args[0] = this.namespace + " " + args[0]; };
      JsSIP.debug.enable("JsSIP:Transport,JsSIP:WARN:*,JsSIP:ERROR:*");
    }
    const socket = new JsSIP.WebSocketInterface(o.wsUrl);
    const ua = new JsSIP.UA({
      sockets: [socket],
      uri: o.uri,
      password: o.password,
      register: true,
      connection_recovery_min_interval: o.recoverySeconds || 30,
      connection_recovery_max_interval: (o.recoverySeconds || 30) * 2,
    });
    T.ua = ua;
    for (const name of ["connected", "disconnected", "registered", "unregistered",
      "registrationFailed"]) {
      ua.on(name, (e) => T.uaEvents.push({ name, code: e && e.code, reason: e && e.reason,
        error: !!(e && e.error), at: Date.now() }));
    }
    ua.on("newRTCSession", (e) => {
      if (e.originator === "remote") track(e.session, "incoming");
    });
    ua.on("newMessage", (e) => {
      if (e.originator !== "remote") return;
      T.messages.push({ from: String(e.request.from.uri), body: e.request.body || "" });
    });
    const timer = setTimeout(() => resolve("timeout"), 10000);
    ua.on("registered", () => { clearTimeout(timer); resolve("registered"); });
    ua.on("registrationFailed", (e) => {
      clearTimeout(timer);
      resolve("registrationFailed: " + e.cause);
    });
    ua.start();
  });

  T.call = (target) => track(T.ua.call(target, MEDIA), "outgoing").id;
  // rtcOfferConstraints: an INVITE without SDP (late offer) is answered with an audio offer;
  // JsSIP would otherwise offer no media at all.
  T.answer = (id) => T.sessions[id].session.answer({
    ...MEDIA,
    rtcOfferConstraints: { offerToReceiveAudio: true },
  });
  T.terminate = (id) => T.sessions[id].session.terminate();
  T.hold = (id) => new Promise((resolve) => {
    const timer = setTimeout(() => resolve("timeout"), 10000);
    const started = T.sessions[id].session.hold({}, () => {
      clearTimeout(timer);
      resolve("succeeded");
    });
    if (!started) { clearTimeout(timer); resolve("refused"); }
  });
  T.sendMessage = (target, body) => new Promise((resolve) => {
    const timer = setTimeout(() => resolve("timeout"), 10000);
    T.ua.sendMessage(target, body, { eventHandlers: {
      succeeded: (e) => { clearTimeout(timer); resolve("succeeded " + e.response.status_code); },
      failed: (e) => { clearTimeout(timer); resolve("failed " + e.cause); },
    } });
  });
  T.rtpStats = async (id) => {
    const pc = T.sessions[id].session.connection;
    const out = { connectionState: pc ? pc.connectionState : "none",
      iceConnectionState: pc ? pc.iceConnectionState : "none", packetsReceived: 0,
      packetsSent: 0, localAddress: "", remoteAddress: "" };
    if (!pc) return out;
    const stats = await pc.getStats();
    let pairId = "";
    stats.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "audio") out.packetsReceived += s.packetsReceived || 0;
      if (s.type === "outbound-rtp" && s.kind === "audio") out.packetsSent += s.packetsSent || 0;
      if (s.type === "transport" && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
    });
    const pair = pairId ? stats.get(pairId) : undefined;
    if (pair) {
      out.localAddress = (stats.get(pair.localCandidateId) || {}).address || "";
      out.remoteAddress = (stats.get(pair.remoteCandidateId) || {}).address || "";
    }
    return out;
  };
  T.stop = () => new Promise((resolve) => {
    if (!T.ua) return resolve();
    const timer = setTimeout(resolve, 3000);
    T.ua.on("disconnected", () => { clearTimeout(timer); resolve(); });
    for (const s of T.sessions) {
      try { if (!s.session.isEnded()) s.session.terminate(); } catch (_) { /* already gone */ }
    }
    T.ua.stop();
  });
})()`;

/** Load JsSIP and the helper script into `page` (idempotent for the helper). */
export async function installJsSip(page: Page): Promise<void> {
  await loadJsSip(page);
  await page.evaluate(PAGE_SCRIPT);
}

/** Start a registering UA in `page`; resolves "registered", "registrationFailed: ..." or "timeout". */
export function startUa(page: Page, o: UaOptions): Promise<string> {
  return page.evaluate(
    `sipwsTest.startUa(${JSON.stringify({ ...o, traceSip: o.traceSip ?? true })})`,
  ) as Promise<string>;
}

/** The UA-level events recorded since `startUa`, oldest first. */
export function uaEvents(page: Page): Promise<UaEvent[]> {
  return page.evaluate("sipwsTest.uaEvents") as Promise<UaEvent[]>;
}

/** Place a call from the page's UA; returns the session id in that page. */
export function call(page: Page, target: string): Promise<number> {
  return page.evaluate(`sipwsTest.call(${JSON.stringify(target)})`) as Promise<number>;
}

/** Answer the incoming session `id` with fake audio. */
export async function answer(page: Page, id: number): Promise<void> {
  await page.evaluate(`sipwsTest.answer(${id})`);
}

/** Terminate (CANCEL, reject or BYE, as JsSIP sees fit) session `id`. */
export async function terminate(page: Page, id: number): Promise<void> {
  await page.evaluate(`sipwsTest.terminate(${id})`);
}

/** Put session `id` on hold (re-INVITE); resolves "succeeded" once the 200 came back. */
export function hold(page: Page, id: number): Promise<string> {
  return page.evaluate(`sipwsTest.hold(${id})`) as Promise<string>;
}

/** Send a MESSAGE; resolves "succeeded <status>", "failed <cause>" or "timeout". */
export function sendMessage(page: Page, target: string, body: string): Promise<string> {
  return page.evaluate(
    `sipwsTest.sendMessage(${JSON.stringify(target)}, ${JSON.stringify(body)})`,
  ) as Promise<string>;
}

/** MESSAGEs the page's UA received. */
export function messages(page: Page): Promise<{ from: string; body: string }[]> {
  return page.evaluate("sipwsTest.messages") as Promise<{ from: string; body: string }[]>;
}

/** Every session the page's UA has seen. */
export function sessions(page: Page): Promise<SessionInfo[]> {
  return page.evaluate("sipwsTest.sessions.map(sipwsTest.info)") as Promise<SessionInfo[]>;
}

/** One session's state. */
export function session(page: Page, id: number): Promise<SessionInfo> {
  return page.evaluate(`sipwsTest.info(sipwsTest.sessions[${id}])`) as Promise<SessionInfo>;
}

/** Media statistics of session `id`. */
export function rtpStats(page: Page, id: number): Promise<RtpStats> {
  return page.evaluate(`sipwsTest.rtpStats(${id})`) as Promise<RtpStats>;
}

/** Unregister the page's UA (it stays connected); resolves "unregistered" or "timeout" (5 s). */
export function unregisterUa(page: Page): Promise<string> {
  return page.evaluate(`new Promise((resolve) => {
    const timer = setTimeout(() => resolve("timeout"), 5000);
    sipwsTest.ua.on("unregistered", () => { clearTimeout(timer); resolve("unregistered"); });
    sipwsTest.ua.unregister();
  })`) as Promise<string>;
}

/** Stop the page's UA (ends its sessions, unregisters, closes the WebSocket); bounded. */
export async function stopUa(page: Page): Promise<void> {
  await page.evaluate("window.sipwsTest && sipwsTest.stop()").catch(() => {});
}

/** Polls media stats of session `id` until RTP flows both ways over a selected candidate pair. */
export function waitForRtp(
  page: Page,
  id: number,
  what: string,
  trace: () => string = () => "",
): Promise<RtpStats> {
  let last: RtpStats | undefined;
  return until(
    `RTP at ${what}`,
    async () => {
      last = await rtpStats(page, id);
      // Outbound stats can lag the first inbound packet: wait for RTP both ways.
      return last.packetsReceived > 0 && last.packetsSent > 0 && last.localAddress !== ""
        ? last
        : undefined;
    },
    20_000,
    () => `last stats: ${JSON.stringify(last)}\n${trace()}`,
  );
}

export function waitSession(page: Page, id: number, timeoutMs = 10_000): Promise<SessionInfo> {
  return until(`session ${id}`, async () => {
    const all = await sessions(page);
    return all[id];
  }, timeoutMs);
}

/** Wait until session `id` has recorded an event named one of `names`; returns it. */
export function waitSessionEvent(
  page: Page,
  id: number,
  names: string[],
  timeoutMs = 10_000,
  detail?: () => string,
): Promise<SessionEvent> {
  return until(
    `session ${id} event ${names.join("|")}`,
    async () => {
      const info = await session(page, id);
      return info?.events.find((e) => names.includes(e.name));
    },
    timeoutMs,
    detail,
  );
}

/** One SIP message from a page's JsSIP transport trace. */
export interface TracedMessage {
  direction: "sent" | "received";
  /** The message text with CRLF line ends normalised to LF. */
  text: string;
  /** First line, e.g. "INVITE sip:bob@example.test SIP/2.0" or "SIP/2.0 200 OK". */
  startLine: string;
}

/**
 * The SIP messages in a page console log captured with `capturePageLog` while the UA ran
 * with `traceSip` (JsSIP prints "sending message:" / "received text message:" lines).
 */
export function sipTrace(log: string[]): TracedMessage[] {
  const out: TracedMessage[] = [];
  for (const line of log) {
    const m = /JsSIP:Transport (sending message|received text message):\s*\n\n([\s\S]*)$/.exec(
      line,
    );
    if (!m) continue;
    const text = m[2].replaceAll("\r\n", "\n").trim();
    out.push({
      direction: m[1] === "sending message" ? "sent" : "received",
      text,
      startLine: text.split("\n")[0],
    });
  }
  return out;
}

/** Values of header `name` in a traced message (comma-separated values split for Route-like headers). */
export function headerValues(message: TracedMessage, name: string): string[] {
  const values: string[] = [];
  for (const line of message.text.split("\n\n")[0].split("\n").slice(1)) {
    const colon = line.indexOf(":");
    if (colon < 0 || line.slice(0, colon).trim().toLowerCase() !== name.toLowerCase()) continue;
    values.push(...line.slice(colon + 1).split(/,(?=\s*<)/).map((v) => v.trim()));
  }
  return values;
}
