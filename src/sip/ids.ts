/**
 * @module Random protocol identifiers: tags (RFC 3261 §19.3) and Call-IDs. Uses the
 * platform's CSPRNG so tags cannot be guessed.
 */

const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

/** CSPRNG bytes fetched 4 KB at a time: one getRandomValues call costs ~1 µs. */
const POOL = new Uint8Array(4096);
let poolAt = POOL.length;

export function randomToken(length = 10): string {
  let out = "";
  for (let i = 0; i < length; i++) {
    if (poolAt === POOL.length) {
      crypto.getRandomValues(POOL);
      poolAt = 0;
    }
    out += ALPHABET[POOL[poolAt++] % ALPHABET.length];
  }
  return out;
}

export function newTag(): string {
  return randomToken(10);
}
