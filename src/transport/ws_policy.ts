/**
 * @module Who may open a SIP WebSocket (Kamailio's websocket handshake checks):
 * the Origin allow-list (exact origins and `https://*.example.com` patterns; empty allows
 * all), the optional Host check (a served domain or one of our addresses), the admin switch
 * that refuses new handshakes with 503, and the CORS header the 101 carries (`none`, `any`
 * → `*`, `origin` → the Origin echoed). Pure decisions over header values; the transport
 * answers and counts.
 */

export type CorsMode = "none" | "any" | "origin";

export interface HandshakePolicy {
  /** Exact origins or patterns with `*` for one or more host labels; empty allows all. */
  allowedOrigins: string[];
  /** Refuse a Host that `isServedHost` does not know. */
  checkHost: boolean;
  cors: CorsMode;
}

/** Why a handshake was refused: the `reason` label of `ws_handshakes_refused_total`. */
export type RefusalReason = "disabled" | "origin" | "host";

export type Admission =
  | { ok: true; headers: Record<string, string> }
  | { ok: false; status: 403 | 503; reason: RefusalReason; text: string };

/** `https://*.example.com[:port]` → a RegExp over a whole lower-cased origin. */
function patternRegExp(pattern: string): RegExp {
  const parts = pattern.toLowerCase().split("*").map((p) =>
    p.replace(/[.+?^${}()|[\]\\/]/g, "\\$&")
  );
  return new RegExp(`^${parts.join("[a-z0-9-]+(?:\\.[a-z0-9-]+)*")}$`);
}

/** Compiles an allow-list once; the result answers whether an Origin may connect. */
export function originMatcher(allowed: readonly string[]): (origin: string | undefined) => boolean {
  if (allowed.length === 0) return () => true;
  const exact = new Set(allowed.filter((a) => !a.includes("*")).map((a) => a.toLowerCase()));
  const patterns = allowed.filter((a) => a.includes("*")).map(patternRegExp);
  return (origin) => {
    if (!origin) return false;
    const o = origin.toLowerCase().replace(/\/+$/, "");
    return exact.has(o) || patterns.some((p) => p.test(o));
  };
}

/** The host part of a Host header value (`[::1]:8080` → `::1`, `a.b:5060` → `a.b`). */
export function hostOf(hostHeader: string): string {
  const v = hostHeader.trim().toLowerCase();
  if (v.startsWith("[")) return v.slice(1, v.indexOf("]") > 0 ? v.indexOf("]") : undefined);
  const colon = v.indexOf(":");
  return colon >= 0 && v.indexOf(":", colon + 1) < 0 ? v.slice(0, colon) : v;
}

/** A compiled policy: call it with the request headers of each handshake. */
export function admission(
  policy: HandshakePolicy,
  isServedHost: (host: string) => boolean,
  enabled: () => boolean,
): (headers: Headers) => Admission {
  const originOk = originMatcher(policy.allowedOrigins);
  return (headers) => {
    if (!enabled()) {
      return {
        ok: false,
        status: 503,
        reason: "disabled",
        text: "new WebSocket connections are disabled\n",
      };
    }
    const origin = headers.get("origin") ?? undefined;
    if (!originOk(origin)) {
      return { ok: false, status: 403, reason: "origin", text: "origin not allowed\n" };
    }
    if (policy.checkHost && !isServedHost(hostOf(headers.get("host") ?? ""))) {
      return { ok: false, status: 403, reason: "host", text: "host not served here\n" };
    }
    const out: Record<string, string> = {};
    if (policy.cors === "any") out["access-control-allow-origin"] = "*";
    else if (policy.cors === "origin" && origin) {
      out["access-control-allow-origin"] = origin;
      out["vary"] = "Origin";
    }
    return { ok: true, headers: out };
  };
}
