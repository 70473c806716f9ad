import assert from "node:assert/strict";
import { SipRequest } from "../sip/message.ts";
import { parseVia } from "../sip/via.ts";
import { stampReceived } from "./stamp_received.ts";
import type { Flow } from "./types.ts";

const flowFrom = (host: string, port: number): Flow => ({
  id: `udp:${host}:${port}`,
  transport: "udp",
  local: { host: "127.0.0.1", port: 5060 },
  remote: { host, port },
  reliable: false,
  secure: false,
});

function stamped(via: string, host = "192.0.2.7", port = 4000): SipRequest {
  const r = new SipRequest("REGISTER", "sip:example.test");
  r.append("Via", via);
  stampReceived(r, flowFrom(host, port));
  return r;
}

const cases: [string, string, string?][] = [
  // [request Via, stamped Via, remote host]
  [
    "SIP/2.0/UDP a.example:5060;branch=z9hG4bK1;rport",
    "SIP/2.0/UDP a.example:5060;branch=z9hG4bK1;rport=4000;received=192.0.2.7",
  ],
  [
    "SIP/2.0/UDP a.example:5060;rport;branch=z9hG4bK1",
    "SIP/2.0/UDP a.example:5060;rport=4000;branch=z9hG4bK1;received=192.0.2.7",
  ],
  [
    "SIP/2.0/UDP a.example:5060;branch=z9hG4bK1",
    "SIP/2.0/UDP a.example:5060;branch=z9hG4bK1;received=192.0.2.7",
  ],
  [
    "SIP/2.0/UDP a.example:5060;received=10.0.0.1;branch=z9hG4bK1",
    "SIP/2.0/UDP a.example:5060;received=192.0.2.7;branch=z9hG4bK1",
  ],
  [
    "SIP/2.0/UDP a.example:5060;branch=z9hG4bK1;received=10.0.0.1;rport",
    "SIP/2.0/UDP a.example:5060;branch=z9hG4bK1;received=192.0.2.7;rport=4000",
  ],
  [
    "SIP/2.0/UDP a.example;branch=z9hG4bK1;rport=1",
    "SIP/2.0/UDP a.example;branch=z9hG4bK1;rport=4000;received=192.0.2.7",
  ],
  // The sender's spelling is kept when the stamps only append.
  [
    "SIP / 2.0 / UDP a.example:5060 ;branch=z9hG4bK1;rport",
    "SIP / 2.0 / UDP a.example:5060 ;branch=z9hG4bK1;rport=4000;received=192.0.2.7",
  ],
  [
    "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1;rport",
    "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1;rport=4000;received=2001:db8::9",
    "2001:db8::9",
  ],
  // Same host, no rport: nothing to add.
  ["SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK1", "SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK1"],
];

Deno.test("stampReceived: received and rport on the top Via, its parse kept with the new line", () => {
  for (const [via, expected, host] of cases) {
    const r = stamped(via, host);
    assert.equal(r.get("via"), expected, via);
    const again = parseVia(expected);
    assert.equal(r.topVia.host, again.host, via);
    assert.deepEqual([...r.topVia.params], [...again.params], via);
  }
});

Deno.test("stampReceived: a line of several Vias gets the stamp on its first value only", () => {
  const r = stamped(
    "SIP/2.0/UDP a.example;branch=z9hG4bK1;rport, SIP/2.0/UDP b.example;branch=z9hG4bK2",
  );
  assert.equal(
    r.get("via"),
    "SIP/2.0/UDP a.example;branch=z9hG4bK1;rport=4000;received=192.0.2.7, SIP/2.0/UDP b.example;branch=z9hG4bK2",
  );
});
