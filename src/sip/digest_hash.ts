/**
 * @module The hash functions of HTTP Digest (RFC 7616 §3.4.2): H() for MD5 and SHA-256 and
 * HA1 = H(user:realm:password). Shared by the authenticator and the account stores, which
 * keep HA1 rather than passwords.
 */
import { createHash } from "node:crypto";

/** Digest algorithms sipws offers, in RFC 7616 spelling. */
export type DigestAlgorithm = "MD5" | "SHA-256";

const NODE_NAME: Record<DigestAlgorithm, string> = { "MD5": "md5", "SHA-256": "sha256" };

export function digestHash(algorithm: DigestAlgorithm, text: string): string {
  return createHash(NODE_NAME[algorithm]).update(text, "utf8").digest("hex");
}

export function computeHa1(
  algorithm: DigestAlgorithm,
  user: string,
  realm: string,
  password: string,
): string {
  return digestHash(algorithm, `${user}:${realm}:${password}`);
}
