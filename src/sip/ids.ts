/**
 * @module Random protocol identifiers: tags (RFC 3261 §19.3) and Call-IDs. Uses the
 * platform's CSPRNG so tags cannot be guessed.
 */

import { callIdValueHash, callOwner } from "./call_id_hash.ts";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

/** CSPRNG bytes fetched 4 KB at a time: one getRandomValues call costs ~1 µs. */
const POOL = new Uint8Array(4096);
let poolAt = POOL.length;

export function randomToken(length = 10): string {
  if (length === 10) return token10();
  let out = "";
  for (let i = 0; i < length; i++) out += ALPHABET[randomByte() % ALPHABET.length];
  return out;
}

/** A tag (two per registration): one string made, not one per character appended. */
function token10(): string {
  return String.fromCharCode(
    tokenCode(),
    tokenCode(),
    tokenCode(),
    tokenCode(),
    tokenCode(),
    tokenCode(),
    tokenCode(),
    tokenCode(),
    tokenCode(),
    tokenCode(),
  );
}

function tokenCode(): number {
  return ALPHABET.charCodeAt(randomByte() % ALPHABET.length);
}

function randomByte(): number {
  if (poolAt === POOL.length) {
    crypto.getRandomValues(POOL);
    poolAt = 0;
  }
  return POOL[poolAt++];
}

/** Two lower-case hex digits per byte value. */
export const HEX: readonly string[] = Array.from(
  { length: 256 },
  (_, i) => (i < 16 ? "0" : "") + i.toString(16),
);

/** `bytes` CSPRNG bytes as lower-case hex, from the same pool. */
export function randomHex(bytes: number): string {
  let out = "";
  for (let i = 0; i < bytes; i++) out += HEX[randomByte()];
  return out;
}

export function newTag(): string {
  return randomToken(10);
}

/** This worker and how many share the calls; set once by a worker thread at start. */
let affinity = { index: 0, count: 1 };

/**
 * Call-IDs made here hash to this worker (see `callIdHash`), so every answer and in-dialog
 * request of a call we start comes back to the worker that holds its state.
 */
export function setCallIdAffinity(index: number, count: number): void {
  affinity = { index, count };
}

export function newCallId(host: string, length = 16): string {
  for (;;) {
    const callId = `${randomToken(length)}@${host}`;
    if (callOwner(callIdValueHash(callId), affinity.count) === affinity.index) {
      return callId;
    }
  }
}
