/**
 * @module The control server's side of calls driven over HTTP: every
 * `call.event` goes out as `POST {control}/dialog/{callid}` `{event, code, reason, sdp?,
 * at}`, one at a time per call so they arrive in order, with the callback retry/backoff;
 * and an inbound call of a domain with `calls: true` is offered as `POST {control}/invite`,
 * whose JSON answer (`{action: "proxy" [, to] | "reject", code [, reason] | "hold"}`) is
 * read within `api.decision_timeout_ms`. Anything else (no answer, an error, a malformed
 * body) means "proxy as usual".
 */
import type { Decision, InboundInfo } from "../core/calls/inbound_offer.ts";
import type { CallEvent } from "../events.ts";
import { Logger } from "../log.ts";
import type { ApiServer } from "./app.ts";
import { signatureHeaders } from "./callback_signature.ts";
import { CALL_TARGET } from "./calls.ts";
import { deliver } from "./delivery.ts";
import { isObject } from "./errors.ts";

const log = new Logger("calls");

export interface CallEventOptions {
  /** Replaces `fetch` (tests). */
  fetch?: typeof fetch;
}

/** The control server's answer, or undefined (→ proxy) when it is not one we know. */
export function parseDecision(doc: unknown): Decision | undefined {
  if (!isObject(doc)) return undefined;
  switch (doc.action) {
    case "proxy":
      if (doc.to === undefined) return { action: "proxy" };
      return typeof doc.to === "string" && CALL_TARGET.test(doc.to)
        ? { action: "proxy", to: doc.to }
        : undefined;
    case "reject": {
      const code = doc.code ?? 486;
      if (typeof code !== "number" || !Number.isInteger(code) || code < 300 || code > 699) {
        return undefined;
      }
      const reason = typeof doc.reason === "string" && !/[\r\n]/.test(doc.reason)
        ? doc.reason
        : undefined;
      return reason ? { action: "reject", code, reason } : { action: "reject", code };
    }
    case "hold":
      return { action: "hold" };
    default:
      return undefined;
  }
}

export class CallEvents {
  #server: ApiServer;
  #fetch: typeof fetch;
  #tails = new Map<string, Promise<void>>();
  #abort = new AbortController();
  #off: () => void;

  constructor(server: ApiServer, options: CallEventOptions = {}) {
    this.#server = server;
    this.#fetch = options.fetch ?? fetch;
    this.#off = server.events.on("call.event", (e) => {
      if (e.control) this.#enqueue(e.control, e.domain, e.callId, e.event);
    });
    server.calls.decide = (info) => this.#decide(info);
  }

  /** Events queued or being retried. */
  pending(): number {
    return this.#tails.size;
  }

  close(): void {
    this.#off();
    this.#abort.abort();
    if (this.#server.calls.decide) this.#server.calls.decide = undefined;
  }

  #enqueue(control: string, domain: string, callId: string, event: CallEvent): void {
    const url = `${control}/dialog/${encodeURIComponent(callId)}`;
    const server = this.#server;
    const previous = this.#tails.get(callId) ?? Promise.resolve();
    const body = JSON.stringify({ callid: callId, ...event });
    const tail = previous.then(() =>
      deliver({
        fetch: this.#fetch,
        policy: server.config.callbacks,
        counters: server.counters,
        signal: this.#abort.signal,
        method: "POST",
        url,
        body,
        // Signed like registration callbacks.
        headers: () => signatureHeaders(this.#secretOf(domain), "POST", url, body),
      })
    ).then(() => {
      if (this.#tails.get(callId) === tail) this.#tails.delete(callId);
    });
    this.#tails.set(callId, tail);
  }

  /** The domain's secret, else `[callbacks] secret` (as registration callbacks). */
  #secretOf(domain: string): string | undefined {
    const server = this.#server;
    return server.store.getDomain(domain)?.secret || server.config.callbacks.secret;
  }

  async #decide(info: InboundInfo): Promise<Decision | undefined> {
    const { control, ...body } = info;
    const url = `${control}/invite`;
    const text = JSON.stringify(body);
    try {
      const response = await this.#fetch(url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "user-agent": "sipws",
          // The decision request is signed like every other callback.
          ...await signatureHeaders(this.#secretOf(info.domain), "POST", url, text),
        },
        body: text,
        signal: AbortSignal.any([
          this.#abort.signal,
          AbortSignal.timeout(this.#server.config.api.decisionTimeoutMs),
        ]),
      });
      if (!response.ok) {
        await response.body?.cancel();
        return undefined;
      }
      const decision = parseDecision(await response.json());
      this.#server.counters.inc("call_decisions_total", { action: decision?.action ?? "invalid" });
      return decision;
    } catch (error) {
      log.debug(`no decision for ${info.callid} from ${control}: ${String(error)}`);
      this.#server.counters.inc("call_decisions_total", { action: "none" });
      return undefined;
    }
  }
}
