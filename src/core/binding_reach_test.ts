import assert from "node:assert/strict";
import { CidrSet } from "../sip/cidr.ts";
import { parseUri } from "../sip/uri.ts";
import type { TransportName } from "../transport/types.ts";
import { bindingTarget, goesWithFlow } from "./binding_reach.ts";
import { type Binding, contactFields } from "./binding.ts";
import { testFlow } from "./fixtures_test.ts";

/** A binding registered over `transport` from 127.0.0.1 (testFlow's remote host). */
function binding(transport: TransportName, contact: string, outbound = false): Binding {
  const identity = outbound ? { instance: "<urn:uuid:1>", regId: 1 } : {};
  return {
    aor: "bob@example.test",
    domain: "example.test",
    user: "bob",
    ...contactFields(contact, parseUri(contact), identity),
    contactParams: "",
    flow: testFlow(transport),
    callId: "c",
    cseq: 1,
    expiresAt: Date.now() + 600_000,
    registeredAt: Date.now(),
    path: [],
    outstandingPings: 0,
    ...identity,
  };
}

Deno.test("goesWithFlow: which bindings outlive their connection", () => {
  const cases: [string, Binding, boolean][] = [
    ["tcp, Contact = source", binding("tcp", "sip:bob@127.0.0.1:5070;transport=tcp"), false],
    ["tls, Contact = source", binding("tls", "sips:bob@127.0.0.1:5071"), false],
    ["tcp, Contact ≠ source (NAT)", binding("tcp", "sip:bob@10.0.0.5:5070;transport=tcp"), true],
    ["tcp, unspecified", binding("tcp", "sip:bob@0.0.0.0:5070;transport=tcp"), true],
    ["tcp, outbound", binding("tcp", "sip:bob@127.0.0.1:5070;transport=tcp", true), true],
    ["ws, .invalid", binding("ws", "sip:x@abc.invalid;transport=ws"), true],
    ["wss, address", binding("wss", "sip:x@127.0.0.1:5070"), true],
    ["udp", binding("udp", "sip:bob@127.0.0.1:5070"), false],
  ];
  const contact = { mode: "contact" as const, contactNetworks: new CidrSet([]) };
  for (const [name, b, goes] of cases) assert.equal(goesWithFlow(b, contact), goes, name);
  const flow = { ...contact, mode: "flow" as const };
  assert.equal(goesWithFlow(cases[0][1], flow), true, "flow rule: every TCP binding goes");
  const trusting = { ...contact, contactNetworks: new CidrSet(["10.0.0.0/8"]) };
  assert.equal(goesWithFlow(cases[2][1], trusting), false, "Contact in a trusted network: kept");
});

Deno.test("bindingTarget: the live flow first, else the Contact, never for flow-only bindings", () => {
  const tcp = binding("tcp", "sip:bob@127.0.0.1:5070;transport=tcp");
  assert.deepEqual(bindingTarget(tcp, true), { flow: tcp.flow });
  assert.deepEqual(bindingTarget(tcp, false), { transport: "tcp", host: "127.0.0.1", port: 5070 });
  const ws = binding("ws", "sip:x@abc.invalid;transport=ws");
  assert.deepEqual(bindingTarget(ws, true), { flow: ws.flow });
  assert.equal(bindingTarget(ws, false), undefined);
  const outbound = binding("tcp", "sip:bob@127.0.0.1:5070;transport=tcp", true);
  assert.equal(bindingTarget(outbound, false), undefined);
});
