/**
 * @module Browser stand-in for `require("node:events")` in the JsSIP bundle. JsSIP's
 * CommonJS code requires "events", which Deno resolves to the Node built-in, so the bundle
 * leaves it as a runtime `require`; this module, imported before JsSIP by
 * tests/support/jssip_entry.ts, defines a global `require` that answers with the npm
 * `events` package (JsSIP's own dependency). It must answer nothing else.
 */

// JsSIP's own pinned dependency (see deno.lock); not in deno.json's import map, where a
// bare "events" would still mean the Node built-in.
// deno-lint-ignore no-import-prefix
import events from "npm:events@3.3.0";

(globalThis as unknown as { require: (id: string) => unknown }).require = (id: string) => {
  if (id === "events" || id === "node:events") return events;
  throw new Error(`jssip bundle: unexpected require(${JSON.stringify(id)})`);
};
