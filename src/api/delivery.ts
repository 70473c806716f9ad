/**
 * @module Delivery of one HTTP request to a control server with the callback policy
 * (`config.callbacks`): up to `retries` attempts, exponential backoff from `backoff_ms`,
 * `timeout_ms` per attempt, retrying only what may recover (5xx, 408, 429, network
 * errors), counted in `callbacks_total{method,result}` and `callbacks_retries_total`.
 * Registration callbacks and call events share it; it knows nothing of their meaning.
 */
import type { Counters } from "../events.ts";
import { Logger } from "../log.ts";

const log = new Logger("callbacks");

/** Statuses worth retrying: the control server may recover; other 4xx will not change. */
function retryable(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

export interface DeliveryPolicy {
  retries: number;
  backoffMs: number;
  timeoutMs: number;
}

export interface Delivery {
  fetch: typeof fetch;
  policy: DeliveryPolicy;
  counters: Counters;
  signal: AbortSignal;
  method: string;
  url: string;
  /** JSON text, if any. */
  body?: string;
  /** Extra headers per attempt (e.g. a signature over a fresh timestamp). */
  headers?: () => Promise<Record<string, string>>;
}

export type DeliveryResult =
  | { delivered: true; attempts: number }
  | { delivered: false; attempts: number; error: string };

/** Sends until delivered, refused or out of tries; undefined when aborted (shutdown). */
export async function deliver(d: Delivery): Promise<DeliveryResult | undefined> {
  const attempts = Math.max(1, d.policy.retries);
  const { method, url, body, signal } = d;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (signal.aborted) return undefined;
    let why: string;
    try {
      const response = await d.fetch(url, {
        method,
        headers: {
          ...(body === undefined ? {} : { "content-type": "application/json" }),
          "user-agent": "sipws",
          ...(await d.headers?.()),
        },
        body,
        signal: AbortSignal.any([signal, AbortSignal.timeout(d.policy.timeoutMs)]),
      });
      await response.body?.cancel();
      if (response.ok) {
        d.counters.inc("callbacks_total", { method, result: "delivered" });
        return { delivered: true, attempts: attempt };
      }
      why = `HTTP ${response.status}`;
      if (!retryable(response.status)) attempt = attempts;
    } catch (error) {
      if (signal.aborted) return undefined;
      why = String(error);
    }
    if (attempt >= attempts) {
      d.counters.inc("callbacks_total", { method, result: "failed" });
      log.warn(`${method} ${url} failed after ${attempt} attempt(s): ${why}`);
      return { delivered: false, attempts: attempt, error: why };
    }
    d.counters.inc("callbacks_retries_total", { method });
    await sleep(d.policy.backoffMs * 2 ** (attempt - 1), signal);
  }
  return undefined;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
