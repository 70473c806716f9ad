/**
 * @module Bundle entry for the JsSIP browser build used by integration tests: the npm
 * package ships only CommonJS (lib/), so tests/support/browser.ts bundles this file with
 * `deno bundle --platform browser` and injects the result into a page, where JsSIP is then
 * `window.JsSIP`. Nothing else belongs here.
 */

import "./jssip_events_shim.ts"; // must run before JsSIP is evaluated
import JsSIP from "jssip";

(globalThis as unknown as { JsSIP: typeof JsSIP }).JsSIP = JsSIP;
