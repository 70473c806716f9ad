/**
 * @module Method routing of the SIP application: sanity checks, then REGISTER to the
 * registrar, OPTIONS addressed to the server answered here, everything else to the proxy.
 * Turns SipError/SipParseError into their responses and any other exception into one
 * logged 500, so a bad request never escapes into the layers below.
 */
import type { Config } from "../config/config.ts";
import type { Counters } from "../events.ts";
import { Logger } from "../log.ts";
import { SipError, SipParseError } from "../sip/errors.ts";
import { newTag } from "../sip/ids.ts";
import { createResponse, type SipRequest, type SipResponse } from "../sip/message.ts";
import type { SipUri } from "../sip/uri.ts";
import type { Flow } from "../transport/types.ts";
import type { Registrar } from "./registrar.ts";
import { checkRequest, SUPPORTED_OPTIONS } from "./sanity.ts";

/** The part of a server transaction the core answers through. */
export interface Responder {
  respond(response: SipResponse): void;
  /**
   * Who hears a CANCEL matching this request (RFC 3261 §9.2), replacing any earlier
   * listener; undefined stops listening. False when the request cannot be cancelled
   * (only an INVITE can): nobody will be told.
   */
  listenForCancel(listener: ((cancel: SipRequest) => void) | undefined): boolean;
}

/** Forwards requests that are not for the server itself (RFC 3261 §16). */
export interface RequestForwarder {
  forward(request: SipRequest, uri: SipUri, flow: Flow, tx: Responder | undefined): void;
}

export const ALLOWED_METHODS = [
  "INVITE",
  "ACK",
  "BYE",
  "CANCEL",
  "OPTIONS",
  "MESSAGE",
  "INFO",
  "UPDATE",
  "REFER",
  "NOTIFY",
  "SUBSCRIBE",
  "PRACK",
  "REGISTER",
];

export interface RouterDeps {
  registrar: Registrar;
  forwarder?: RequestForwarder;
  config: () => Config;
  counters: Counters;
  /** True when a host names this server (configured domain, or a listening address). */
  isLocalHost: (host: string) => boolean;
}

const log = new Logger("core");

export class Router {
  #deps: RouterDeps;

  constructor(deps: RouterDeps) {
    this.#deps = deps;
  }

  set forwarder(forwarder: RequestForwarder) {
    this.#deps.forwarder = forwarder;
  }

  /** Handles a request that started a server transaction (tx undefined for ACK to 2xx). */
  handle(request: SipRequest, flow: Flow, tx: Responder | undefined): void {
    try {
      const local = request.method === "REGISTER" || this.#isForServer(request);
      const uri = checkRequest(request, local);
      if (request.method === "REGISTER") tx?.respond(this.#deps.registrar.handle(request, flow));
      else if (local && request.method === "OPTIONS") tx?.respond(this.#options(request));
      else if (this.#deps.forwarder) this.#deps.forwarder.forward(request, uri, flow, tx);
      else if (request.method !== "ACK") {
        tx?.respond(createResponse(request, 501, undefined, newTag()));
      }
    } catch (error) {
      if (request.method === "ACK") return; // never answer an ACK (§17.1.1.3)
      tx?.respond(this.#errorResponse(request, error));
    }
  }

  #isForServer(request: SipRequest): boolean {
    try {
      const uri = request.uri;
      const at = uri.indexOf("@");
      // OPTIONS sip:host (no user part) is addressed to the server (§11).
      return at < 0 && this.#deps.isLocalHost(uri.replace(/^sips?:/i, "").split(/[;:?]/)[0]);
    } catch {
      return false;
    }
  }

  #options(request: SipRequest): SipResponse {
    const response = createResponse(request, 200, undefined, newTag());
    response.append("Allow", ALLOWED_METHODS.join(", "));
    response.append("Accept", "application/sdp, text/plain, message/sipfrag");
    response.append("Supported", SUPPORTED_OPTIONS.join(", "));
    response.append("Server", this.#deps.config().sip.userAgent);
    return response;
  }

  #errorResponse(request: SipRequest, error: unknown): SipResponse {
    return errorResponse(request, error, this.#deps.counters);
  }
}

/**
 * The response for what handling `request` threw: a SipError's status and headers, 400
 * for a parse error, else one logged 500.
 */
export function errorResponse(
  request: SipRequest,
  error: unknown,
  counters: Counters,
): SipResponse {
  if (error instanceof SipError) {
    const response = createResponse(request, error.status, error.reason, newTag());
    for (const [name, value] of error.headers) response.append(name, value);
    return response;
  }
  if (error instanceof SipParseError) {
    counters.inc("sip_parse_errors_total", { transport: "core" });
    return createResponse(request, 400, error.reason, newTag());
  }
  log.error(
    `internal error handling ${request.method}: ${error instanceof Error ? error.stack : error}`,
  );
  counters.inc("sip_internal_errors_total");
  return createResponse(request, 500, undefined, newTag());
}
