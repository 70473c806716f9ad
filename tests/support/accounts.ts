/**
 * @module
 * The test accounts the integration tests share: one domain and three users, so a
 * password or a domain is spelled once.
 */

export const DOMAIN = "example.test";
export const ALICE = { user: "alice", domain: DOMAIN, password: "secret-a" };
export const BOB = { user: "bob", domain: DOMAIN, password: "secret-b" };
export const CAROL = { user: "carol", domain: DOMAIN, password: "secret-c" };
