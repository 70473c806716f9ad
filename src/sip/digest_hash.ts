/**
 * @module The hash functions of HTTP Digest (RFC 7616 §3.4.2): H() for MD5 and SHA-256 and
 * HA1 = H(user:realm:password). Shared by the authenticator and the account stores, which
 * keep HA1 rather than passwords.
 */
import { md5HexJoined, md5JoinedEqualsHex } from "./md5.ts";
import { sha256 } from "./sha256.ts";

/** Digest algorithms sipws offers, in RFC 7616 spelling. */
export type DigestAlgorithm = "MD5" | "SHA-256";

const encoder = new TextEncoder();
const HEX = Array.from({ length: 256 }, (_, b) => (b < 16 ? "0" : "") + b.toString(16));

/**
 * H(text) as lower-case hex over the UTF-8 bytes. In-process TypeScript hashes: these run
 * several times per REGISTER on short strings, where node:crypto's per-call cost dominates.
 */
export function digestHash(algorithm: DigestAlgorithm, text: string): string {
  return digestHashJoined(algorithm, [text]);
}

/** H(parts joined by ":"), the form every Digest hash takes, without building the joined text for MD5. */
export function digestHashJoined(algorithm: DigestAlgorithm, parts: readonly string[]): string {
  if (algorithm === "MD5") return md5HexJoined(parts);
  const digest = sha256(encoder.encode(parts.join(":")));
  let out = "";
  for (let i = 0; i < digest.length; i++) out += HEX[digest[i]];
  return out;
}

/** True when `hex` (either case) is H(parts joined by ":"); MD5 builds no hex string for it. */
export function digestHashJoinedEquals(
  algorithm: DigestAlgorithm,
  parts: readonly string[],
  hex: string,
): boolean {
  if (algorithm === "MD5") return md5JoinedEqualsHex(parts, hex);
  const expected = digestHashJoined(algorithm, parts);
  return hex === expected || hex.toLowerCase() === expected;
}

export function computeHa1(
  algorithm: DigestAlgorithm,
  user: string,
  realm: string,
  password: string,
): string {
  return digestHashJoined(algorithm, [user, realm, password]);
}
