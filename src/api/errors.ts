/**
 * @module The one error type of the HTTP control API and its JSON shape
 * (`{"error": {"code", "field"?, "message"}}`), plus the key check every endpoint runs and
 * the strict body readers that turn malformed input into `invalid_json` / `invalid_field`.
 * It knows nothing of routes; it must not log secrets (keys never appear in messages).
 */
import { timingSafeEqual } from "node:crypto";

export type ApiErrorCode =
  | "invalid_json"
  | "invalid_field"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "method_not_allowed"
  | "conflict"
  | "unavailable"
  | "internal";

export class ApiError extends Error {
  readonly status: 400 | 401 | 403 | 404 | 405 | 500 | 503;
  readonly code: ApiErrorCode;
  readonly field?: string;
  constructor(
    status: ApiError["status"],
    code: ApiErrorCode,
    message: string,
    field?: string,
  ) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

/** The JSON body of an error response. */
export function errorBody(
  code: ApiErrorCode,
  message: string,
  field?: string,
): { error: { code: ApiErrorCode; field?: string; message: string } } {
  return { error: field === undefined ? { code, message } : { code, field, message } };
}

export function invalidField(field: string, message: string): ApiError {
  return new ApiError(400, "invalid_field", `${field}: ${message}`, field);
}

const encoder = new TextEncoder();

function sameKey(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  // Compare equal-length digests-of-length first so the timing does not leak the length.
  if (x.length !== y.length) return timingSafeEqual(x, x) && false;
  return timingSafeEqual(x, y);
}

/**
 * Checks a presented key against every configured key (SIPWS: all `<key>` arguments,
 * not only the first). Throws 401 when none was presented, 403 when it matches none.
 */
export function checkKey(keys: readonly string[], presented: string | undefined): void {
  if (presented === undefined || presented === "") {
    throw new ApiError(401, "unauthorized", "a key is required (Authorization: Bearer <key>)");
  }
  let ok = false;
  for (const key of keys) if (key !== "" && sameKey(key, presented)) ok = true;
  if (!ok) {
    throw new ApiError(
      403,
      "forbidden",
      keys.length === 0 ? "no API keys are configured (positional <key> arguments)" : "wrong key",
    );
  }
}

/** The key of an `Authorization: Bearer <key>` header, if any. */
export function bearerKey(header: string | undefined | null): string | undefined {
  if (!header) return undefined;
  const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : undefined;
}

/** Parses a request body as JSON; anything else is `invalid_json`. */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === "") throw new ApiError(400, "invalid_json", "the body must be JSON");
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, "invalid_json", `the body is not valid JSON: ${(e as Error).message}`);
  }
}

export type JsonObject = Record<string, unknown>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The body must be a JSON object. */
export function objectBody(text: string): JsonObject {
  const doc = parseJsonBody(text);
  if (!isObject(doc)) throw new ApiError(400, "invalid_json", "the body must be a JSON object");
  return doc;
}

/** An optional string field; a present non-string is `invalid_field`. */
export function optionalString(obj: JsonObject, key: string, field = key): string | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw invalidField(field, "must be a string");
  return value;
}

/** Rejects keys a body must not carry (catches typos such as `secrett`). */
export function onlyKeys(obj: JsonObject, allowed: readonly string[], at = ""): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) throw invalidField(`${at}${key}`, "is not a known field");
  }
}
