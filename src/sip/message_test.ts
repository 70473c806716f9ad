import assert from "node:assert/strict";
import { SipRequest } from "./message.ts";

function request(): SipRequest {
  const r = new SipRequest("REGISTER", "sip:example.test");
  r.append(
    "Via",
    "SIP/2.0/UDP a.example:5060;branch=z9hG4bK1, SIP/2.0/TCP b.example;branch=z9hG4bK2",
  );
  r.append("From", "<sip:alice@example.test>;tag=1");
  r.append("To", "<sip:alice@example.test>");
  r.append("Contact", "<sip:alice@10.0.0.1>;expires=60");
  return r;
}

Deno.test("parsed hot headers are reused until their raw value changes", () => {
  const r = request();
  assert.equal(r.topVia, r.topVia, "same parse for the same raw Via");
  assert.equal(r.to, r.to);
  assert.equal(r.topVia.host, "a.example");
  r.set("via", "SIP/2.0/UDP c.example;branch=z9hG4bK3");
  assert.equal(r.topVia.host, "c.example", "set() is seen");
  r.headers.find((h) => h.key === "via")!.value = "SIP/2.0/UDP d.example;branch=z9hG4bK4";
  assert.equal(r.topVia.host, "d.example", "a write straight into headers is seen");
  assert.deepEqual(r.vias.map((v) => v.host), ["d.example"]);
  r.prepend("Via", "SIP/2.0/UDP e.example;branch=z9hG4bK5");
  assert.equal(r.topVia.host, "e.example", "a new top Via line is seen");
  assert.deepEqual(r.vias.map((v) => v.host), ["e.example", "d.example"]);
  r.set("to", "<sip:bob@example.test>;tag=9");
  assert.equal(r.to.uri.user, "bob");
  r.append("Contact", "<sip:alice@10.0.0.2>");
  assert.deepEqual(r.contacts.map((c) => c.uri.host), ["10.0.0.1", "10.0.0.2"]);
});

Deno.test("list accessors hand out their own arrays", () => {
  const r = request();
  r.vias.pop();
  r.contacts.length = 0;
  assert.equal(r.vias.length, 2);
  assert.equal(r.contacts.length, 1);
});

Deno.test("a clone parses on its own", () => {
  const r = request();
  const v = r.topVia;
  const c = r.clone();
  c.shift("via");
  assert.equal(c.topVia.host, "b.example");
  assert.equal(r.topVia, v);
});

Deno.test("replaceTopVia writes the formatted Via and keeps it as the parse of the new line", () => {
  const r = new SipRequest("REGISTER", "sip:example.test");
  r.append("Via", "SIP/2.0/UDP a.example:5060;branch=z9hG4bK1;rport");
  const header = r.headers.find((h) => h.key === "via")!;
  const via = { ...r.topVia, params: new Map(r.topVia.params) };
  via.params.set("received", "192.0.2.7");
  via.params.set("rport", "4000");
  r.replaceTopVia(header, via);
  assert.equal(
    header.value,
    "SIP/2.0/UDP a.example:5060;branch=z9hG4bK1;rport=4000;received=192.0.2.7",
  );
  assert.equal(r.topVia, via, "the stamped Via is not parsed again");
  header.value = "SIP/2.0/UDP b.example;branch=z9hG4bK2";
  assert.equal(r.topVia.host, "b.example", "a later write is still seen");
});

Deno.test("From, To and Contact parses are shared between messages with the same raw text", () => {
  const a = request();
  const b = request();
  assert.equal(a.to, b.to, "one parse for the same raw To");
  assert.equal(a.contacts[0], b.contacts[0]);
  b.set("From", "<sip:bob@example.test>;tag=2");
  assert.notEqual(a.from, b.from);
  assert.equal(b.from.uri.user, "bob");
  // A malformed value is not remembered: it fails again in the next message.
  for (let i = 0; i < 2; i++) {
    const bad = request();
    bad.set("To", "<sip:alice@example.test");
    assert.throws(() => bad.to, /Bad name-addr/);
  }
});
