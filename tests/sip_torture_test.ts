/**
 * @module RFC 4475 torture tests against the SIP message layer. Each message of §3 lives in
 * tests/testdata/rfc4475/; this file states, per message, which path applies:
 *  - "valid": parses, `validateMessage` passes and the hot headers read back as the RFC says;
 *  - "parse": `parseMessage` throws `SipParseError` (datagram) with the given reason;
 *  - "accessor": parses (so a proxy can still answer it), the named accessor throws;
 *  - "validate": parses and every accessor reads, but `validateMessage` throws (→ 400);
 *  - "accept": the RFC wants it handled above the parser (416, 420, 501, ...): parse and
 *    `validateMessage` must not throw.
 * It also round-trips every message that parses: parse → toBytes → parse keeps the start
 * line, headers and body.
 */
import assert from "node:assert/strict";
import { SipParseError } from "../src/sip/errors.ts";
import type { SipMessage, SipRequest, SipResponse } from "../src/sip/message.ts";
import { parseMessage, validateMessage } from "../src/sip/parse.ts";
import { parseUri } from "../src/sip/uri.ts";
import { StreamFramer } from "../src/sip/framer.ts";

const DIR = new URL("./testdata/rfc4475/", import.meta.url);
const load = (name: string) => Deno.readFileSync(new URL(`${name}.sip`, DIR));

function throwsParse(fn: () => unknown, reason: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SipParseError, `expected SipParseError, got ${e}`);
    if (typeof reason === "string") assert.equal(e.reason, reason);
    else assert.match(e.reason, reason);
    return true;
  });
}

/** Reads every hot header the layers above use; throws what the accessor throws. */
function readHot(m: SipMessage): void {
  void m.topVia;
  void m.vias;
  void m.from;
  void m.to;
  void m.callId;
  void m.cseq;
  void m.contacts;
  void m.maxForwards;
  if (m.isRequest && /^sips?:/i.test(m.uri)) void parseUri(m.uri);
}

const req = (m: SipMessage) => {
  assert.ok(m.isRequest);
  return m as SipRequest;
};
const res = (m: SipMessage) => {
  assert.ok(!m.isRequest);
  return m as SipResponse;
};

type Case =
  | { path: "valid"; check: (m: SipMessage) => void }
  | { path: "parse"; reason: string | RegExp }
  | { path: "accessor"; read: (m: SipMessage) => unknown; reason: string | RegExp }
  | { path: "validate"; reason: string | RegExp }
  | { path: "accept"; why: string; check?: (m: SipMessage) => void };

const CASES: Record<string, Case> = {
  // §3.1.1 Valid messages.
  "3.1.1.1_wsinv": {
    path: "valid",
    check: (m) => {
      const r = req(m);
      assert.equal(r.method, "INVITE");
      const ruri = parseUri(r.uri);
      assert.equal(ruri.user, "vivekg");
      assert.equal(ruri.host, "chair-dnrc.example.com");
      assert.ok(ruri.params.has("unknownparam"));
      assert.equal(r.to.uri.user, "vivekg");
      assert.equal(r.to.params.get("tag"), "1918181833n");
      assert.equal(r.from.displayName, 'J Rosenberg \\"');
      assert.equal(r.from.params.get("tag"), "98asjd8");
      assert.equal(r.maxForwards, 68);
      assert.deepEqual(r.cseq, { seq: 9, method: "INVITE" });
      assert.equal(r.callId, "wsinv.ndaksdj@192.0.2.1");
      const vias = r.vias;
      assert.deepEqual(vias.map((v) => [v.transport, v.host]), [
        ["UDP", "192.0.2.2"],
        ["TCP", "spindle.example.com"],
        ["UDP", "192.168.255.111"],
      ]);
      assert.equal(vias[0].params.get("branch"), "390skdjuw");
      assert.equal(vias[1].params.get("branch"), "z9hG4bK9ikj8");
      assert.equal(vias[2].params.get("branch"), "z9hG4bK30239");
      const [contact] = r.contacts;
      assert.equal(contact.displayName, 'Quoted string ""');
      assert.equal(contact.uri.user, "jdrosen");
      assert.equal(contact.params.get("newparam"), "newvalue");
      assert.equal(contact.params.get("secondparam"), null);
      assert.equal(contact.params.get("q"), "0.33");
      assert.equal(r.get("subject"), "");
      assert.equal(r.get("NewFangledHeader"), "newfangled value continued newfangled value");
      assert.equal(r.get("unknownheaderwithunusualvalue"), ";;,,;;,;");
      assert.equal(r.getAll("route").length, 1);
      assert.equal(r.body.length, 150);
    },
  },
  "3.1.1.2_intmeth": {
    path: "valid",
    check: (m) => {
      const r = req(m);
      assert.equal(r.method, "!interesting-Method0123456789_*+`.%indeed'~");
      const ruri = parseUri(r.uri);
      assert.equal(ruri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
      assert.equal(ruri.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
      assert.equal(ruri.host, "example.com");
      assert.equal(r.topVia.params.get("branch"), "z9hG4bK-.!%66*_+`'~");
      assert.equal(r.to.displayName, "BEL:\x07 NUL:\x00 DEL:\x7F");
      assert.equal(r.to.uri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
      assert.equal(r.from.displayName, "token1~` token2'+_ token3*%!.-");
      assert.equal(r.from.params.get("fromparam''~+*_!.-%"), '"работающий"');
      assert.equal(r.from.params.get("tag"), "_token~1'+`*%!-.");
      assert.equal(r.callId, "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
      assert.deepEqual(r.cseq, { seq: 139122385, method: r.method });
      assert.equal(r.maxForwards, 255);
      assert.equal(r.get("extensionHeader-!.%*+_`'~"), "\uFEFF大停電");
    },
  },
  "3.1.1.3_esc01": {
    path: "valid",
    check: (m) => {
      const r = req(m);
      assert.equal(parseUri(r.uri).user, "sips:user@example.com");
      assert.equal(r.to.uri.user, "user");
      assert.equal(r.from.uri.user, "I have spaces");
      const [c] = r.contacts;
      assert.equal(c.uri.user, "caller");
      assert.equal(c.uri.params.get("%6c%72"), null);
      assert.equal(c.uri.params.get("n%61me"), "v%61lue%25%34%31");
      assert.equal(r.get("content-type"), "application/sdp");
    },
  },
  "3.1.1.4_escnull": {
    path: "valid",
    check: (m) => {
      const r = req(m);
      assert.equal(r.to.uri.user, "null-\x00-null");
      assert.deepEqual(r.contacts.map((c) => c.uri.user), ["\x00", "\x00\x00"]);
    },
  },
  "3.1.1.5_esc02": {
    path: "valid",
    check: (m) => {
      const r = req(m);
      assert.equal(r.method, "RE%47IST%45R");
      assert.equal(r.to.displayName, "%Z%45");
      assert.deepEqual(r.contacts.map((c) => c.uri.user), ["alias1", "alias3"]);
      assert.equal(r.get("C%6Fntact"), "<sip:alias2@host2.example.com>");
      assert.equal(r.topVia.params.get("branch"), "z9hG4bK209%fzsnel234");
    },
  },
  "3.1.1.6_lwsdisp": {
    path: "valid",
    check: (m) => {
      assert.equal(m.from.displayName, "caller");
      assert.equal(m.from.params.get("tag"), "323");
    },
  },
  "3.1.1.7_longreq": {
    path: "valid",
    check: (m) => {
      const vias = m.vias;
      assert.equal(vias.length, 34);
      assert.equal(vias[0].host, "sip33.example.com");
      assert.equal(vias[33].params.get("received"), "192.0.2.5");
      assert.equal(m.to.uri.port, 6000);
      assert.equal(m.to.uri.params.size, 3);
      assert.equal(m.from.params.get("tag"), "12" + "982".repeat(50) + "424");
      assert.equal(m.callId, "longreq.one" + "really".repeat(20) + "longcallid");
      assert.equal(m.body.length, 150);
    },
  },
  "3.1.1.8_dblreq": {
    path: "valid",
    check: (m) => {
      // The INVITE-looking bytes after a zero-length body are noise in a datagram (§18.3).
      assert.equal(req(m).method, "REGISTER");
      assert.equal(m.body.length, 0);
      assert.equal(m.contacts[0].uri.user, "j.user");
    },
  },
  "3.1.1.9_semiuri": {
    path: "valid",
    check: (m) => {
      const u = parseUri(req(m).uri);
      assert.equal(u.user, "user;par=u@example.net");
      assert.equal(u.host, "example.com");
      assert.equal(u.params.size, 0);
    },
  },
  "3.1.1.10_transports": {
    path: "valid",
    check: (m) =>
      assert.deepEqual(m.vias.map((v) => v.transport), ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]),
  },
  "3.1.1.11_mpart01": {
    path: "valid",
    check: (m) => {
      assert.equal(m.body.length, 553);
      assert.ok(m.body.includes(0));
      assert.equal(m.topVia.port, 5070);
      assert.equal(m.topVia.params.get("rport"), null);
    },
  },
  "3.1.1.12_unreason": {
    path: "valid",
    check: (m) => {
      const r = res(m);
      assert.equal(r.status, 200);
      assert.equal(r.reason, "= 2**3 * 5**2 но сто девяносто девять - простое");
    },
  },
  "3.1.1.13_noreason": {
    path: "valid",
    check: (m) => {
      assert.equal(res(m).status, 100);
      assert.equal(res(m).reason, "");
    },
  },
  // §3.1.2 Invalid messages.
  "3.1.2.1_badinv01": { path: "accessor", read: (m) => m.topVia, reason: "Bad parameter" },
  "3.1.2.2_clerr": { path: "parse", reason: "Bad Content-Length" },
  "3.1.2.3_ncl": { path: "parse", reason: "Bad Content-Length" },
  "3.1.2.4_scalar02": { path: "accessor", read: (m) => m.cseq, reason: "Bad CSeq" },
  // A response: the transaction layer reads CSeq to match it, fails, and drops it.
  "3.1.2.5_scalarlg": { path: "accessor", read: (m) => m.cseq, reason: "Bad CSeq" },
  "3.1.2.6_quotbal": { path: "accessor", read: (m) => m.to, reason: "Bad display name" },
  "3.1.2.7_ltgtruri": { path: "parse", reason: "Bad Request-URI" },
  "3.1.2.8_lwsruri": { path: "parse", reason: "Bad request line" },
  "3.1.2.9_lwsstart": { path: "parse", reason: "Bad request line" },
  "3.1.2.10_trws": { path: "parse", reason: "Bad request line" },
  "3.1.2.11_escruri": { path: "parse", reason: "Bad Request-URI" },
  "3.1.2.12_baddate": {
    path: "accept",
    why: "Date is never interpreted by sipws; the RFC allows ignoring it",
  },
  "3.1.2.13_regbadct": { path: "accessor", read: (m) => m.contacts, reason: "Bad addr-spec" },
  "3.1.2.14_badaspec": { path: "accessor", read: (m) => m.to, reason: /^Bad URI/ },
  "3.1.2.15_baddn": { path: "accessor", read: (m) => m.from, reason: "Bad display name" },
  "3.1.2.16_badvers": { path: "parse", reason: "Version Not Supported" },
  "3.1.2.17_mismatch01": { path: "validate", reason: "CSeq method mismatch" },
  // The RFC prefers 501 (the core checks the method first) and accepts 400: validate gives it.
  "3.1.2.18_mismatch02": { path: "validate", reason: "CSeq method mismatch" },
  "3.1.2.19_bigcode": { path: "parse", reason: "Bad status line" },
  // §3.2 Transaction layer.
  "3.2.1_badbranch": {
    path: "accept",
    why: "syntactically valid; the transaction layer decides about the empty id",
    check: (m) => assert.equal(m.topVia.params.get("branch"), "z9hG4bK"),
  },
  // §3.3 Application layer.
  "3.3.1_insuf": { path: "validate", reason: "Missing From" },
  "3.3.2_unkscm": {
    path: "accept",
    why: "the core answers 416 for an unknown Request-URI scheme",
    check: (m) => assert.equal(parseUri(req(m).uri).scheme, "nobodyknowsthisscheme"),
  },
  "3.3.3_novelsc": {
    path: "accept",
    why: "the core answers 416",
    check: (m) => assert.equal(parseUri(req(m).uri).scheme, "soap.beep"),
  },
  "3.3.4_unksm2": {
    path: "accept",
    why: "the registrar rejects non-SIP To/Contact (400/416 by policy)",
    check: (m) => {
      assert.equal(m.to.uri.scheme, "isbn");
      assert.equal(m.from.uri.scheme, "http");
      assert.equal(m.contacts[0].uri.scheme, "name");
    },
  },
  "3.3.5_bext01": {
    path: "accept",
    why: "the core answers 420 listing the Unsupported extensions",
    check: (m) =>
      assert.deepEqual(m.getAll("require"), ["nothingSupportsThis", "nothingSupportsThisEither"]),
  },
  "3.3.6_invut": {
    path: "accept",
    why: "a UAS answers 415; a proxy forwards",
    check: (m) => assert.equal(m.get("content-type"), "application/unknownformat"),
  },
  "3.3.7_regaut01": {
    path: "accept",
    why: "the registrar answers 401 with a challenge it understands",
    check: (m) => assert.equal(m.get("authorization"), "NoOneKnowsThisScheme opaque-data=here"),
  },
  "3.3.8_multi01": { path: "validate", reason: "Multiple Call-ID" },
  "3.3.9_mcl01": { path: "parse", reason: "Bad Content-Length" },
  "3.3.10_bcast": {
    path: "accept",
    why: "well formed; the response path never sends to a broadcast Via",
    check: (m) => assert.equal(m.vias[1].host, "255.255.255.255"),
  },
  "3.3.11_zeromf": {
    path: "accept",
    why: "the proxy answers 483 (OPTIONS to itself may be answered)",
    check: (m) => assert.equal(m.maxForwards, 0),
  },
  "3.3.12_cparam01": {
    path: "accept",
    why: "addr-spec Contact: unknownparam is a contact parameter",
    check: (m) => {
      const [c] = m.contacts;
      assert.ok(c.params.has("unknownparam"));
      assert.equal(c.uri.params.size, 0);
      assert.equal(c.uri.user, "+19725552222");
    },
  },
  "3.3.13_cparam02": {
    path: "accept",
    why: "name-addr Contact: unknownparam is a URI parameter",
    check: (m) => {
      const [c] = m.contacts;
      assert.ok(c.uri.params.has("unknownparam"));
      assert.equal(c.params.size, 0);
    },
  },
  "3.3.14_regescrt": {
    path: "accept",
    why: "URI headers in a registered Contact are stored as given",
    check: (m) => assert.equal(m.contacts[0].uri.headers, "Route=%3Csip:sip.example.com%3E"),
  },
  "3.3.15_sdp01": {
    path: "accept",
    why: "a UAS answers 415 (Accept excludes SDP); a proxy forwards",
  },
  // §3.4 Backward compatibility (RFC 2543): no Max-Forwards, no branch, no Content-Length.
  "3.4.1_inv2543": {
    path: "accept",
    why: "a proxy must accept an RFC 2543 request",
    check: (m) => {
      assert.equal(m.maxForwards, undefined);
      assert.equal(m.topVia.params.get("branch"), undefined);
      assert.equal(m.body.length, 105);
    },
  },
};

Deno.test("rfc4475: every message file has a case and every case a file", () => {
  const files = [...Deno.readDirSync(DIR)].map((e) => e.name).filter((n) => n.endsWith(".sip"))
    .map((n) => n.slice(0, -4)).sort();
  assert.deepEqual(files, Object.keys(CASES).sort());
  assert.equal(files.length, 49);
});

for (const [name, c] of Object.entries(CASES)) {
  Deno.test(`rfc4475 ${name}: ${c.path}`, () => {
    const bytes = load(name);
    if (c.path === "parse") {
      throwsParse(() => parseMessage(bytes), c.reason);
      return;
    }
    const m = parseMessage(bytes);
    if (c.path === "valid" || c.path === "accept") {
      readHot(m);
      validateMessage(m);
      c.check?.(m);
    } else if (c.path === "accessor") {
      throwsParse(() => c.read(m), c.reason);
      assert.throws(() => validateMessage(m), SipParseError);
    } else {
      throwsParse(() => validateMessage(m), c.reason);
    }
  });
}

function roundTrip(m: SipMessage): SipMessage {
  return parseMessage(m.toBytes(), { stream: true });
}

for (const [name, c] of Object.entries(CASES)) {
  if (c.path === "parse") continue;
  Deno.test(`rfc4475 ${name}: round trip keeps start line, headers, body`, () => {
    const a = parseMessage(load(name));
    const b = roundTrip(a);
    const startLine = (m: SipMessage) => m.isRequest ? [m.method, m.uri] : [m.status, m.reason];
    assert.deepEqual(startLine(b), startLine(a));
    const noLength = (m: SipMessage) => m.headers.filter((h) => h.key !== "content-length");
    assert.deepEqual(noLength(b), noLength(a));
    assert.deepEqual(b.body, a.body);
    assert.equal(b.get("content-length"), String(a.body.length));
    // Serializing again is a fixed point.
    assert.deepEqual(roundTrip(b).toBytes(), b.toBytes());
  });
}

Deno.test("rfc4475 clerr over a stream: the framer waits for the missing body", () => {
  const framer = new StreamFramer(65536);
  assert.deepEqual(framer.push(load("3.1.2.2_clerr")), []);
  assert.ok(framer.pending > 0);
});

Deno.test("rfc4475 ncl over a stream: a negative Content-Length breaks the framing", () => {
  throwsParse(() => new StreamFramer().push(load("3.1.2.3_ncl")), "Bad Content-Length");
});

Deno.test("rfc4475 dblreq over a stream: the two requests frame separately", () => {
  const frames = new StreamFramer().push(load("3.1.1.8_dblreq"));
  const messages = frames.filter((f) => f.kind === "message");
  assert.equal(messages.length, 2);
  const second = parseMessage((messages[1] as { bytes: Uint8Array }).bytes, { stream: true });
  assert.equal(req(second).method, "INVITE");
  assert.equal(second.body.length, 150);
});

Deno.test("rfc4475 inv2543 over a stream: Content-Length is required", () => {
  throwsParse(
    () => parseMessage(load("3.4.1_inv2543"), { stream: true }),
    "Missing Content-Length",
  );
});
