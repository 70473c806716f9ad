/**
 * @module Digest authentication policy for the registrar and proxy (RFC 3261 §22, RFC 7616,
 * RFC 8760): issuing challenges with stateless self-validating nonces, and verifying
 * Authorization / Proxy-Authorization credentials against HA1 digests supplied by the caller.
 * It owns nonce freshness and nonce-count replay state (bounded, in memory). It does not
 * read the account store, build responses or pick status codes: the caller maps an
 * AuthFailure to 401/407 (challenge), 403 or 400.
 *
 * Nonce = base64url(issued-at ms [6 bytes] | nc slot [3] | random tag [3] | MAC(secret, first
 * 12 bytes | realm) [12]): 32 characters, no table of issued nonces. The MAC is SHA-256 of the
 * key block then the message, truncated to 12 bytes (AMAC, `TruncatedPrefixMac`): one
 * compression per nonce instead of HMAC's two; the truncation is what keeps it safe from
 * length extension.
 * The last nc accepted lives in a fixed ring of slots (nonce_counts.ts, 22 bytes a slot, shared
 * by every worker thread): a nonce owns its slot until a newer nonce takes it, so the replay
 * state is bounded by design and costs the garbage collector nothing. The slot also keeps a
 * fingerprint of the REGISTER that used that nc: that request retransmitted after its
 * transaction was forgotten is reported as a `repeat` (answered, applied no second time), not
 * refused as a replay. A nonce that is
 * expired, not ours (bad MAC, e.g. issued before a restart with a random secret), issued for
 * another realm, or whose nc state was evicted is reported as `stale` — but only when the
 * response is otherwise correct (RFC 7616 §3.3: stale only if "the response is valid for that
 * nonce"), so a client that knows the password retries without asking its user, and one that
 * does not gets `wrong_password`.
 */
import { createHmac, randomBytes } from "node:crypto";
import { TruncatedPrefixMac } from "../sip/sha256.ts";
import { NonceCounts } from "./nonce_counts.ts";
import type { DigestAlgorithm } from "../sip/digest_hash.ts";
import type { SipMessage } from "../sip/message.ts";
import type { Address } from "../transport/types.ts";
import {
  digestAlgorithmOf,
  type DigestParams,
  type DigestResponseInput,
  digestResponseMatches,
  formatDigestChallenge,
  parseDigest,
} from "../sip/digest.ts";

export type AuthFailure =
  | "missing"
  | "malformed"
  | "realm"
  | "unknown_user"
  | "wrong_password"
  | "stale"
  | "replay"
  | "algorithm";

export type AuthResult =
  /**
   * `repeat`: the very REGISTER accepted last for this nonce, received again after its
   * transaction was forgotten (a late retransmission): answer it, apply nothing again.
   */
  | { ok: true; user: string; algorithm: DigestAlgorithm; repeat: boolean }
  | { ok: false; cause: AuthFailure; user?: string };

export interface AuthenticatorOptions {
  /** Challenge order; first one first (browsers read only the first challenge, MD5 only). */
  algorithms: DigestAlgorithm[];
  nonceTtlSeconds: number;
  /** MAC key for nonces; random by default. Share it to let several instances verify. */
  secret?: Uint8Array;
  /** The key before the last rotation: its nonces are still accepted until they expire. */
  previousSecret?: Uint8Array;
  /** ms clock, injectable for tests. */
  now?: () => number;
  /** Nonce-count slots (nonces whose nc is remembered); default 2^19 (11 MiB), at most 2^24. */
  maxNonceCounts?: number;
  /** The replay state to use instead (`maxNonceCounts` ignored): the one all workers share. */
  nonceCounts?: NonceCounts;
  /**
   * Instances sharing the secret (workers): this one issues nonces only in slots `index`,
   * `index + count`, ..., so a nonce one issued is never stale to another for its slot.
   */
  slots?: { index: number; count: number };
}

const NONCE_BYTES = 24;
const NONCE_CHARS = 32; // base64url of 24 bytes, no padding
const SIGNED_BYTES = 12; // issued-at + slot + tag
const SLOT_AT = 6;
const TAG_AT = 9;
const MAX_SLOTS = 1 << 24; // the slot number has 3 bytes
const MAC_BYTES = 12;
const RANDOM_POOL_BYTES = 6 * 1024;
/** A nonce "issued" this far in the future is not ours (clock steps are small in-process). */
const FUTURE_SKEW_MS = 5_000;
/** Stands for the nonce while the constant text of a challenge is formatted; only the realm comes before it. */
const NONCE_MARK = "\u0000nonce\u0000";
/** base64url alphabet (RFC 4648 §5); nonces are coded here, not through node:buffer, which costs more per call than the whole coding. */
const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const BASE64URL_CODES = Uint8Array.from(BASE64URL, (c) => c.charCodeAt(0));
/** Char code → 6-bit value; -1 for characters outside the alphabet. */
const BASE64URL_VALUES = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) BASE64URL_VALUES[BASE64URL.charCodeAt(i)] = i;

export class DigestAuthenticator {
  readonly #algorithms: DigestAlgorithm[];
  readonly #ttlMs: number;
  readonly #now: () => number;
  #opaque = "";
  /** The previous key's opaque; its nonces carry it back. */
  #previousOpaque?: string;
  /**
   * Slot → the nonce that owns it and the last nc accepted for it. Issuing takes the next
   * slot round the ring.
   */
  readonly #counts: NonceCounts;
  /** The replay state, to share with other workers. */
  get nonceCounts(): NonceCounts {
    return this.#counts;
  }
  #nextSlot: number;
  /** This instance's first slot and the step to its next (`slots` option). */
  readonly #firstSlot: number;
  readonly #slotStep: number;
  readonly #randomPool = new Uint8Array(RANDOM_POOL_BYTES);
  /** Scratch of the nonce being issued, its base64url codes, and of the nonce being checked. */
  readonly #issued = new Uint8Array(NONCE_BYTES);
  readonly #issuedChars = new Uint8Array(NONCE_CHARS);
  readonly #checked = new Uint8Array(NONCE_BYTES);
  /** The nonce MAC keyed once with the secret (node's createHmac costs ~15 µs a call). */
  #hmac!: TruncatedPrefixMac;
  /** Keyed with the previous secret, while a rotation is under way. */
  #previousHmac?: TruncatedPrefixMac;
  readonly #macOut = new Uint8Array(MAC_BYTES);
  /**
   * Realm → MAC input: room for the 12 signed bytes, then the realm's UTF-8 already in place.
   * Realms are few (one per served domain).
   */
  readonly #macInputs = new Map<string, Uint8Array>();
  /** Realm → challenge text around the nonce, per algorithm (fresh and stale=true). */
  readonly #challenges = new Map<string, [string, string][]>();
  readonly #staleChallenges = new Map<string, [string, string][]>();
  #randomOffset = RANDOM_POOL_BYTES;
  readonly #responseInput: DigestResponseInput = {
    algorithm: "MD5",
    ha1: "",
    nonce: "",
    method: "",
    uri: "",
    qop: undefined,
    nc: undefined,
    cnonce: undefined,
  };

  constructor(options: AuthenticatorOptions) {
    if (options.algorithms.length === 0) throw new Error("digest: no algorithm configured");
    for (const a of options.algorithms) {
      if (a !== "MD5" && a !== "SHA-256") throw new Error(`digest: unsupported algorithm ${a}`);
    }
    if (!(options.nonceTtlSeconds > 0)) throw new Error("digest: nonceTtlSeconds must be > 0");
    this.#algorithms = [...options.algorithms];
    this.#ttlMs = options.nonceTtlSeconds * 1000;
    this.#now = options.now ?? Date.now;
    this.#counts = options.nonceCounts ??
      new NonceCounts(Math.min(MAX_SLOTS, Math.max(1, options.maxNonceCounts ?? 1 << 19)));
    const slots = this.#counts.size;
    this.#slotStep = Math.max(1, options.slots?.count ?? 1);
    this.#firstSlot = (options.slots?.index ?? 0) % slots;
    this.#nextSlot = this.#firstSlot;
    this.setSecrets(options.secret ?? randomBytes(32), options.previousSecret);
  }

  /**
   * Rotates the nonce key: new nonces are signed with `secret`; those signed with
   * `previous` stay valid until they expire, so clients are not challenged again.
   */
  setSecrets(secret: Uint8Array, previous?: Uint8Array): void {
    this.#hmac = new TruncatedPrefixMac(secret);
    this.#opaque = opaqueOf(secret);
    // The opaque is part of the challenge text.
    this.#challenges.clear();
    this.#staleChallenges.clear();
    this.#previousHmac = previous ? new TruncatedPrefixMac(previous) : undefined;
    this.#previousOpaque = previous ? opaqueOf(previous) : undefined;
  }

  /** Header values for WWW-Authenticate/Proxy-Authenticate, one per algorithm, in configured order. */
  challenge(realm: string, stale = false): string[] {
    const nonce = this.#issueNonce(realm);
    const around = this.#challengeText(realm, stale);
    const values: string[] = new Array(around.length);
    for (let i = 0; i < around.length; i++) values[i] = around[i][0] + nonce + around[i][1];
    return values;
  }

  /**
   * The text of each algorithm's challenge before and after the nonce, formatted once per
   * realm and staleness (only the nonce changes from one challenge to the next).
   */
  #challengeText(realm: string, stale: boolean): [string, string][] {
    const cache = stale ? this.#staleChallenges : this.#challenges;
    let around = cache.get(realm);
    if (around !== undefined) return around;
    around = this.#algorithms.map((algorithm) => {
      // A nonce is base64url, so it is quoted as is: format around a marker in its place.
      const text = formatDigestChallenge({
        realm,
        nonce: NONCE_MARK,
        opaque: this.#opaque,
        algorithm,
        qop: "auth",
        stale,
      });
      const at = text.lastIndexOf(NONCE_MARK);
      return [text.slice(0, at), text.slice(at + NONCE_MARK.length)];
    });
    if (cache.size < 1024) cache.set(realm, around);
    return around;
  }

  /**
   * Checks credentials from an Authorization/Proxy-Authorization value (pass every such header
   * value of the request; the one whose realm matches is used).
   * lookupHa1(user, algorithm, realm) returns the stored HA1 hex for that user in this realm or
   * undefined when the user does not exist.
   *
   * The digest-uri is accepted as sent (a proxy cannot always compare it with the
   * Request-URI); the method is the request's. Without qop (RFC 2069 clients) the nonce may be
   * reused until it expires; with qop=auth each nc must exceed the last one accepted.
   * `message`, the request the values are header values of, lets them be read in its
   * decoded head; with `source`, the address it came from, a REGISTER is fingerprinted so
   * that its retransmission is told from a replay (nonce_counts.ts).
   */
  verify(
    method: string,
    credentials: string[],
    realm: string,
    lookupHa1: (user: string, algorithm: DigestAlgorithm, realm: string) => string | undefined,
    message?: SipMessage,
    source?: Address,
  ): AuthResult {
    let params: DigestParams | undefined;
    let sawMalformed = false;
    let sawOtherRealm = false;
    for (let i = 0; i < credentials.length; i++) {
      // Read where the parser decoded it when it can (a flat string scans faster than a slice).
      const text = credentials[i];
      const at = message === undefined ? -1 : message.locate(text);
      const p = at < 0 ? parseDigest(text) : parseDigest(message!.parsedHead, at, at + text.length);
      if (p === undefined) {
        // Another scheme (e.g. Basic) is not ours; a broken Digest value is malformed.
        if (/^\s*digest(\s|$)/i.test(text)) sawMalformed = true;
        continue;
      }
      if (p.realm === realm) {
        params = p;
        break;
      }
      if (p.realm === undefined) sawMalformed = true;
      else sawOtherRealm = true;
    }
    if (params === undefined) {
      return fail(sawMalformed ? "malformed" : sawOtherRealm ? "realm" : "missing");
    }

    const user = params.username;
    const nonce = params.nonce;
    const uri = params.uri;
    const response = params.response;
    if (user === undefined) return fail("malformed");
    if (nonce === undefined || uri === undefined || response === undefined) {
      return fail("malformed", user);
    }

    const algorithm = digestAlgorithmOf(params.algorithm);
    if (algorithm === undefined || !this.#algorithms.includes(algorithm)) {
      return fail("algorithm", user);
    }

    const qop = params.qop;
    let nc = 0;
    if (qop !== undefined) {
      // Only qop=auth is offered; auth-int is refused rather than half-implemented.
      if (qop !== "auth" && qop.toLowerCase() !== "auth") return fail("malformed", user);
      const ncText = params.nc;
      nc = ncText === undefined ? -1 : ncValue(ncText);
      if (nc < 0 || !params.cnonce) return fail("malformed", user);
    }

    const ha1 = lookupHa1(user, algorithm, realm);
    if (ha1 === undefined) return fail("unknown_user", user);

    // The inputs go in one object kept for the purpose: nothing allocated per request.
    const input = this.#responseInput;
    input.algorithm = algorithm;
    input.ha1 = ha1;
    input.nonce = nonce;
    input.method = method;
    input.uri = uri;
    input.qop = qop === undefined ? undefined : "auth";
    input.nc = params.nc;
    input.cnonce = params.cnonce;
    const matches = digestResponseMatches(input, response);
    input.ha1 = ""; // the secret is not kept past the check
    if (!matches) return fail("wrong_password", user);

    // The password is right; now is the nonce still good?
    const now = this.#now();
    const issuedAt = this.#nonceIssuedAt(nonce, realm);
    // From here on #checked holds the nonce's bytes (when issuedAt >= 0).
    if (
      issuedAt < 0 || now - issuedAt > this.#ttlMs ||
      issuedAt - now > FUTURE_SKEW_MS ||
      (params.opaque !== undefined && params.opaque !== this.#opaque &&
        params.opaque !== this.#previousOpaque)
    ) {
      return fail("stale", user);
    }

    let repeat = false;
    if (qop !== undefined) {
      const checked = this.#checked;
      const slot = readUint24(checked, SLOT_AT);
      // A REGISTER retransmitted after its transaction is gone repeats the nc it was accepted
      // with: told from a replay by the fingerprint of what it was (nonce_counts.ts).
      const counts = this.#counts;
      const mark = method === "REGISTER" && message !== undefined && source !== undefined
        ? counts.fingerprint(response, message.callId, message.cseq.seq, source.host, source.port)
        : 0;
      const verdict = counts.accept(slot, readUint24(checked, TAG_AT), issuedAt, nc, mark, now);
      if (verdict === "stale" || verdict === "replay") return fail(verdict, user);
      repeat = verdict === "repeat";
    }
    return { ok: true, user, algorithm, repeat };
  }

  #issueNonce(realm: string): string {
    const bytes = this.#issued;
    const issuedAt = writeUint48(bytes, 0, this.#now());
    if (this.#randomOffset + 3 > RANDOM_POOL_BYTES) {
      crypto.getRandomValues(this.#randomPool);
      this.#randomOffset = 0;
    }
    const slot = this.#nextSlot;
    const next = slot + this.#slotStep;
    this.#nextSlot = next < this.#counts.size ? next : this.#firstSlot;
    bytes[SLOT_AT] = slot >>> 16;
    bytes[SLOT_AT + 1] = slot >>> 8;
    bytes[SLOT_AT + 2] = slot;
    const pool = this.#randomPool;
    const r = this.#randomOffset;
    bytes[TAG_AT] = pool[r];
    bytes[TAG_AT + 1] = pool[r + 1];
    bytes[TAG_AT + 2] = pool[r + 2];
    this.#randomOffset = r + 3;
    // The slot is this nonce's from now on; the nonce it held before becomes stale.
    this.#counts.take(slot, readUint24(bytes, TAG_AT), issuedAt);
    const mac = this.#mac(bytes, realm);
    for (let i = 0; i < MAC_BYTES; i++) bytes[SIGNED_BYTES + i] = mac[i];
    return toBase64url(bytes, this.#issuedChars);
  }

  /**
   * Issue time in ms of one of our nonces for this realm, or -1 when it is not ours. Leaves
   * the nonce's bytes in #checked.
   */
  #nonceIssuedAt(nonce: string, realm: string): number {
    const bytes = this.#checked;
    if (nonce.length !== NONCE_CHARS || !fromBase64url(nonce, bytes)) return -1;
    const signed = this.#signedBy(this.#hmac, bytes, realm) ||
      (this.#previousHmac !== undefined && this.#signedBy(this.#previousHmac, bytes, realm));
    return signed ? readUint48(bytes, 0) : -1;
  }

  #signedBy(hmac: TruncatedPrefixMac, bytes: Uint8Array, realm: string): boolean {
    const mac = this.#mac(bytes, realm, hmac);
    // Constant-time comparison: every byte is looked at whatever the first difference.
    let diff = 0;
    for (let i = 0; i < MAC_BYTES; i++) diff |= mac[i] ^ bytes[SIGNED_BYTES + i];
    return diff === 0;
  }

  /** MAC(secret, signed[0..12] | realm), 12 bytes, into a scratch buffer (valid until next call). */
  #mac(signed: Uint8Array, realm: string, hmac = this.#hmac): Uint8Array {
    let input = this.#macInputs.get(realm);
    if (input === undefined) {
      const realmBytes = new TextEncoder().encode(realm);
      input = new Uint8Array(SIGNED_BYTES + realmBytes.length);
      input.set(realmBytes, SIGNED_BYTES);
      if (this.#macInputs.size < 1024) this.#macInputs.set(realm, input);
    }
    for (let i = 0; i < SIGNED_BYTES; i++) input[i] = signed[i];
    return hmac.macInto(input, this.#macOut, MAC_BYTES);
  }
}

/** nc-value = 8LHEX (RFC 7616 §3.4; either case accepted): its value, or -1 when malformed. */
function ncValue(text: string): number {
  if (text.length !== 8) return -1;
  let n = 0;
  for (let i = 0; i < 8; i++) {
    const c = text.charCodeAt(i);
    const l = c | 32;
    const d = c >= 48 && c <= 57 ? c - 48 : l >= 97 && l <= 102 ? l - 87 : -1;
    if (d < 0) return -1;
    n = n * 16 + d;
  }
  return n;
}

function fail(cause: AuthFailure, user?: string): AuthResult {
  return user === undefined ? { ok: false, cause } : { ok: false, cause, user };
}

/** Writes the integer part of `value` (0 ≤ value < 2^48) big-endian at `at`; returns it. */
function writeUint48(bytes: Uint8Array, at: number, value: number): number {
  const high = Math.floor(value / 0x100000000);
  const low = value >>> 0;
  bytes[at] = high >>> 8;
  bytes[at + 1] = high;
  bytes[at + 2] = low >>> 24;
  bytes[at + 3] = low >>> 16;
  bytes[at + 4] = low >>> 8;
  bytes[at + 5] = low;
  return (high & 0xffff) * 0x100000000 + low;
}

function readUint48(bytes: Uint8Array, at: number): number {
  const low =
    ((bytes[at + 2] << 24) | (bytes[at + 3] << 16) | (bytes[at + 4] << 8) | bytes[at + 5]) >>>
    0;
  return ((bytes[at] << 8) | bytes[at + 1]) * 0x100000000 + low;
}

function readUint24(bytes: Uint8Array, at: number): number {
  return (bytes[at] << 16) | (bytes[at + 1] << 8) | bytes[at + 2];
}

/** base64url without padding of a nonce's 24 bytes, coded in `chars` (32 codes). */
function toBase64url(bytes: Uint8Array, chars: Uint8Array): string {
  for (let i = 0, o = 0; i < NONCE_BYTES; i += 3, o += 4) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    chars[o] = BASE64URL_CODES[v >>> 18];
    chars[o + 1] = BASE64URL_CODES[(v >>> 12) & 63];
    chars[o + 2] = BASE64URL_CODES[(v >>> 6) & 63];
    chars[o + 3] = BASE64URL_CODES[v & 63];
  }
  // One string made from all 32 codes: `apply` over the array costs more than the coding,
  // and joining shorter pieces makes a string per piece and one per join.
  const c = chars;
  // deno-fmt-ignore
  return String.fromCharCode(
    c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11], c[12], c[13],
    c[14], c[15], c[16], c[17], c[18], c[19], c[20], c[21], c[22], c[23], c[24], c[25], c[26],
    c[27], c[28], c[29], c[30], c[31],
  );
}

/** Decodes base64url `text` (4/3 of `out`'s length) into `out`; false on any other character. */
function fromBase64url(text: string, out: Uint8Array): boolean {
  for (let i = 0, o = 0; o < out.length; i += 4, o += 3) {
    const a = text.charCodeAt(i), b = text.charCodeAt(i + 1);
    const c = text.charCodeAt(i + 2), d = text.charCodeAt(i + 3);
    if ((a | b | c | d) >= 128) return false;
    const va = BASE64URL_VALUES[a], vb = BASE64URL_VALUES[b];
    const vc = BASE64URL_VALUES[c], vd = BASE64URL_VALUES[d];
    if ((va | vb | vc | vd) < 0) return false;
    const v = (va << 18) | (vb << 12) | (vc << 6) | vd;
    out[o] = v >>> 16;
    out[o + 1] = v >>> 8;
    out[o + 2] = v;
  }
  return true;
}

/** The opaque a key's challenges carry (RFC 7616 §3.3): stable per key, so it survives restarts. */
function opaqueOf(secret: Uint8Array): string {
  return createHmac("sha256", secret).update("sipws opaque").digest().subarray(0, 12)
    .toString("base64url");
}
