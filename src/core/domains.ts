/**
 * @module Which SIP domains this server serves: the configured list when there is one,
 * else every domain of the account store (a store creates a domain entry with its first
 * account). Shared by the registrar and the proxy so both answer the same.
 */
import type { AccountStore } from "../store/account.ts";

export function servesDomain(configured: string[], store: AccountStore, domain: string): boolean {
  if (configured.length > 0) return configured.includes(domain.toLowerCase());
  return store.getDomain(domain) !== undefined; // compares case-insensitively itself
}
