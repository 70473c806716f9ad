/**
 * @module Shared fixtures for the store unit tests: SIPWS's example database file and a
 * temp directory that is removed however the test ends. Test-only; imported by the
 * *_test.ts files beside it.
 */

/** SIPWS's example database file, as its README shows it. */
export const SEED_DATABASE = `{
  "data":[
    {"avail":"0","cn":"Alice","description":"","domain":"192.168.43.113","expire":3600,"id":"100","image":"http://acme.com/brb/sipws/i/100.png","origin":"registry","password":"password","port":5060}
  ],
  "domain":"192.168.43.113",
  "ip":"192.168.43.113"
}`;

/** Runs `fn` with a fresh temp directory (name starting `prefix`), then removes it. */
export async function inTempDir(prefix: string, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
