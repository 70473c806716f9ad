/**
 * @module Random protocol identifiers: tags (RFC 3261 §19.3) and Call-IDs. Uses the
 * platform's CSPRNG so tags cannot be guessed.
 */

const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

export function randomToken(length = 10): string {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  let out = "";
  for (const b of bytes) out += ALPHABET[b % ALPHABET.length];
  return out;
}

export function newTag(): string {
  return randomToken(10);
}
