/**
 * @module Authentication policy shared by the registrar (401/WWW-Authenticate) and the
 * proxy (407/Proxy-Authenticate): runs the digest check and turns each failure cause into
 * the response a UA expects, as one table. Also counts and publishes auth failures.
 */
import type { AuthFailure, DigestAuthenticator } from "./auth.ts";
import type { Counters, EventBus } from "../events.ts";
import type { DigestAlgorithm } from "../sip/digest_hash.ts";
import { newTag } from "../sip/ids.ts";
import { createResponse, type SipRequest, type SipResponse } from "../sip/message.ts";
import type { AccountStore } from "../store/account.ts";
import type { AbuseGuard } from "../transport/abuse_guard.ts";
import type { Flow } from "../transport/types.ts";

export type ChallengeKind = "www" | "proxy";

/** Cause → what to answer. `challenge` re-challenges; `stale` adds stale=true. */
const FAILURES: Record<AuthFailure, { status?: number; reason?: string; stale?: boolean }> = {
  missing: {},
  realm: {},
  algorithm: {},
  stale: { stale: true },
  replay: { stale: true },
  malformed: { status: 400, reason: "Bad Authorization Header" },
  unknown_user: { status: 403, reason: "Forbidden" },
  wrong_password: { status: 403, reason: "Forbidden" },
};

export interface ChallengeDeps {
  authenticator: DigestAuthenticator;
  store: AccountStore;
  counters: Counters;
  events: EventBus;
  /** Told of every digest outcome by source address; may lock an account there. */
  abuse?: Pick<AbuseGuard, "recordFailure" | "recordSuccess" | "isBlocked">;
}

/** Failures that are guesses (a wrong secret or name), not protocol slips like a stale nonce. */
const GUESSES = new Set<AuthFailure>(["wrong_password", "unknown_user"]);

type Ha1Lookup = (user: string, algorithm: DigestAlgorithm, realm: string) => string | undefined;

/** The HA1 lookup of the last account store seen (one per server), so none is made per request. */
let lookupStore: AccountStore | undefined;
let lookupOfStore: Ha1Lookup = () => undefined;

function ha1Lookup(store: AccountStore): Ha1Lookup {
  if (store !== lookupStore) {
    lookupStore = store;
    lookupOfStore = (user, algorithm, realm) => {
      const account = store.getAccount(realm, user);
      if (!account) return undefined;
      return algorithm === "MD5" ? account.ha1.md5 : account.ha1.sha256;
    };
  }
  return lookupOfStore;
}

/**
 * Returns the authenticated user name (and whether the request repeats one accepted already,
 * see `AuthResult`), or the response to send instead (401/407 with challenges, or 400/403).
 */
export function authenticate(
  deps: ChallengeDeps,
  request: SipRequest,
  realm: string,
  kind: ChallengeKind,
  flow?: Flow,
): { user: string; repeat: boolean } | { response: SipResponse } {
  const credentials = request.getAll(kind === "www" ? "authorization" : "proxy-authorization");
  const result = deps.authenticator.verify(
    request.method,
    credentials,
    realm,
    ha1Lookup(deps.store),
    request,
    // Only a datagram is retransmitted (RFC 3261 §17.1.2.2): a repeat over a stream is a replay.
    flow?.transport === "udp" ? flow.remote : undefined,
  );
  const source = flow?.remote.host;
  const abuse = source === undefined ? undefined : deps.abuse;
  // An account locked at this address learns nothing, not even a right guess.
  if (abuse && result.user !== undefined && abuse.isBlocked(source!, result.user, realm)) {
    deps.counters.inc("sip_auth_failures_total", { cause: "locked" });
    return { response: createResponse(request, 403, "Forbidden", newTag()) };
  }
  if (result.ok) {
    abuse?.recordSuccess(source!, result.user, realm);
    return result; // carries `user`: no second object per registration
  }
  if (result.cause !== "missing") {
    deps.counters.inc("sip_auth_failures_total", { cause: result.cause });
    deps.events.emit({ type: "auth.failed", realm, user: result.user, cause: result.cause });
    if (GUESSES.has(result.cause)) abuse?.recordFailure(source!, result.user ?? "", realm);
  }
  const failure = FAILURES[result.cause];
  if (failure.status) {
    return { response: createResponse(request, failure.status, failure.reason, newTag()) };
  }
  const response = challengeResponse(deps.authenticator, request, realm, kind, failure.stale, flow);
  return { response };
}

/**
 * JsSIP and SIP.js keep only the last WWW-/Proxy-Authenticate header they parse (their
 * parsers overwrite with setHeader), while RFC 7616 clients such as sipp take the first
 * they support. Browser stacks only speak WebSocket, so on WS/WSS flows only the preferred
 * challenge is sent; elsewhere every configured algorithm is offered in preference order.
 */
function offersOnlyPreferred(flow: Flow | undefined): boolean {
  return flow?.transport === "ws" || flow?.transport === "wss";
}

export function challengeResponse(
  authenticator: DigestAuthenticator,
  request: SipRequest,
  realm: string,
  kind: ChallengeKind,
  stale = false,
  flow?: Flow,
): SipResponse {
  const response = createResponse(request, kind === "www" ? 401 : 407, undefined, newTag());
  const header = kind === "www" ? "WWW-Authenticate" : "Proxy-Authenticate";
  const values = authenticator.challenge(realm, stale);
  const offered = offersOnlyPreferred(flow) ? values.slice(0, 1) : values;
  for (const value of offered) response.append(header, value);
  return response;
}
