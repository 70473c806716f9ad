/**
 * @module The keys derived from the configured secret (`[sip] secret`, `previous_secret`):
 * one for flow tokens, one for digest nonces, so neither HMAC ever sees the other's key.
 * Without a configured secret a random one is drawn once per process.
 */
import { createHmac, randomBytes } from "node:crypto";
import type { Config } from "../config/config.ts";

export interface Keys {
  current: Uint8Array;
  previous?: Uint8Array;
}

export interface DerivedKeys {
  flowTokens: Keys;
  nonces: Keys;
}

/** Derives both key pairs; `fallback` is the process's random secret when none is set. */
export function deriveKeys(sip: Config["sip"], fallback: Uint8Array): DerivedKeys {
  const current: Uint8Array = sip.secret !== undefined
    ? new TextEncoder().encode(sip.secret)
    : fallback;
  const previous = sip.previousSecret !== undefined
    ? new TextEncoder().encode(sip.previousSecret)
    : undefined;
  const derive = (purpose: string): Keys => ({
    current: derived(current, purpose),
    previous: previous && derived(previous, purpose),
  });
  return { flowTokens: derive("sipws flow token"), nonces: derive("sipws digest nonce") };
}

/** A process-wide random secret for when the configuration names none. */
export function randomSecret(): Uint8Array {
  return randomBytes(32);
}

function derived(secret: Uint8Array, purpose: string): Uint8Array {
  return createHmac("sha256", secret).update(purpose).digest();
}
