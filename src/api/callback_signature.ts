/**
 * @module How a control-server callback is signed, so the receiver can reject forgeries and
 * replays: `X-Sipws-Timestamp` (Unix seconds) and `X-Sipws-Signature`, the lowercase hex
 * HMAC-SHA256 of `timestamp + method + path + body` under the domain's `secret` (else the
 * global `[callbacks] secret`). The path is the request URL's path as sent (percent-encoded),
 * the body the exact bytes sent ("" for DELETE). Pure computation; no I/O.
 */

const encoder = new TextEncoder();

/** Lowercase hex HMAC-SHA256 of `timestamp + method + path + body` under `secret`. */
export async function callbackSignature(
  secret: string,
  timestamp: string,
  method: string,
  path: string,
  body: string,
): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign(
    "HMAC",
    key,
    encoder.encode(timestamp + method + path + body),
  );
  return Array.from(new Uint8Array(mac), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The two headers for one request; none when no secret applies. */
export async function signatureHeaders(
  secret: string | undefined,
  method: string,
  url: string,
  body: string,
  now = Date.now(),
): Promise<Record<string, string>> {
  if (!secret) return {};
  const timestamp = String(Math.floor(now / 1000));
  const path = new URL(url).pathname;
  return {
    "x-sipws-timestamp": timestamp,
    "x-sipws-signature": await callbackSignature(secret, timestamp, method, path, body),
  };
}
