import assert from "node:assert/strict";
import type { SipRequest, SipResponse } from "./message.ts";
import { findHeadEnd, parseMessage, validateMessage } from "./parse.ts";
import { reasonOf } from "./fixtures_test.ts";
import { parseVia } from "./via.ts";

const enc = new TextEncoder();
const bytes = (s: string) => enc.encode(s);
const crlf = (lines: string[]) => lines.join("\r\n");

const REGISTER = crlf([
  "REGISTER sip:example.com SIP/2.0",
  "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport",
  "Max-Forwards: 70",
  'From: "Alice" <sip:alice@example.com>;tag=456248',
  "To: <sip:alice@example.com>",
  "Call-ID: 843817637684230@998sdasdh09",
  "CSeq: 1826 REGISTER",
  "Contact: <sip:alice@192.0.2.1:5060>;expires=600",
  "Content-Length: 0",
  "",
  "",
]);

Deno.test("parse: request line, headers in order, empty body", () => {
  const m = parseMessage(bytes(REGISTER)) as SipRequest;
  assert.equal(m.method, "REGISTER");
  assert.equal(m.uri, "sip:example.com");
  assert.deepEqual(m.headers.map((h) => h.key), [
    "via",
    "max-forwards",
    "from",
    "to",
    "call-id",
    "cseq",
    "contact",
    "content-length",
  ]);
  assert.equal(m.body.length, 0);
  assert.equal(m.topVia.params.get("branch"), "z9hG4bK776asdhds");
  assert.equal(m.contacts[0].params.get("expires"), "600");
  validateMessage(m);
});

Deno.test("parse: header values stay raw until an accessor reads them", () => {
  const text = REGISTER.replace("To: <sip:alice@example.com>", "To: <sip:alice@example.com");
  const m = parseMessage(bytes(text));
  assert.equal(m.get("to"), "<sip:alice@example.com");
  assert.equal(reasonOf(() => m.to), "Bad name-addr");
  assert.equal(m.from.displayName, "Alice");
});

Deno.test("parse: header names are case-insensitive and compact forms expand", () => {
  const text = crlf([
    "OPTIONS sip:bob@example.com SIP/2.0",
    "v: SIP/2.0/TCP a.example.com;branch=z9hG4bK1",
    "VIA: SIP/2.0/TCP b.example.com;branch=z9hG4bK2",
    "f: <sip:a@example.com>;tag=1",
    "t: sip:bob@example.com",
    "i: abc",
    "cSeQ: 2 OPTIONS",
    "m: <sip:a@10.0.0.1>",
    "k: path, outbound",
    "l: 0",
    "",
    "",
  ]);
  const m = parseMessage(bytes(text));
  assert.equal(m.callId, "abc");
  assert.deepEqual(m.vias.map((v) => v.host), ["a.example.com", "b.example.com"]);
  assert.equal(m.headers[0].name, "Via");
  assert.equal(m.headers[1].name, "VIA");
  assert.deepEqual(m.getAll("supported"), ["path", "outbound"]);
  assert.equal(m.get("Content-Length"), "0");
  assert.deepEqual(m.cseq, { seq: 2, method: "OPTIONS" });
});

Deno.test("parse: folded header lines join with one space", () => {
  const text = crlf([
    "OPTIONS sip:bob@example.com SIP/2.0",
    "Subject: first",
    "  second",
    "\tthird",
    "Via: SIP/2.0/UDP h.example.com;branch=z9hG4bKx",
    "Content-Length: 0",
    "",
    "",
  ]);
  assert.equal(parseMessage(bytes(text)).get("subject"), "first second third");
});

Deno.test("parse: comma lists split outside quotes and brackets", () => {
  const text = crlf([
    "INVITE sip:bob@example.com SIP/2.0",
    'Contact: "Doe, John" <sip:j@a.example.com;x=1,2>, <sip:k@b.example.com>;q=0.5',
    "Route: <sip:p1.example.com;lr>,<sip:p2.example.com;lr>",
    "Route: <sip:p3.example.com;lr>",
    "Content-Length: 0",
    "",
    "",
  ]);
  const m = parseMessage(bytes(text));
  const contacts = m.contacts;
  assert.equal(contacts.length, 2);
  assert.equal(contacts[0].displayName, "Doe, John");
  assert.equal(contacts[0].uri.params.get("x"), "1,2");
  assert.equal(contacts[1].params.get("q"), "0.5");
  assert.equal(m.getAll("route").length, 3);
});

Deno.test("parse: status line variants", () => {
  const tail = "\r\nContent-Length: 0\r\n\r\n";
  const ok = parseMessage(bytes("SIP/2.0 180 Ringing Loudly" + tail)) as SipResponse;
  assert.equal(ok.status, 180);
  assert.equal(ok.reason, "Ringing Loudly");
  assert.equal((parseMessage(bytes("SIP/2.0 200" + tail)) as SipResponse).reason, "");
  assert.equal(reasonOf(() => parseMessage(bytes("SIP/2.0 2000 OK" + tail))), "Bad status line");
  assert.equal(reasonOf(() => parseMessage(bytes("SIP/2.0 099 Low" + tail))), "Bad status code");
  assert.equal(reasonOf(() => parseMessage(bytes("SIP/2.0 20x OK" + tail))), "Bad status line");
  assert.equal(
    reasonOf(() => parseMessage(bytes("SIP/3.0 200 OK" + tail))),
    "Version Not Supported",
  );
});

Deno.test("parse: request line errors have specific reasons", () => {
  const tail = "\r\nContent-Length: 0\r\n\r\n";
  const cases: [string, string][] = [
    ["INVITE sip:a@b SIP/2.0 ", "Bad request line"],
    ["INVITE sip:a@b", "Bad request line"],
    ["INV<TE sip:a@b SIP/2.0", "Bad method"],
    ["INVITE <sip:a@b> SIP/2.0", "Bad Request-URI"],
    ["INVITE sip:a@b?Route=x SIP/2.0", "Bad Request-URI"],
    ["INVITE nocolon SIP/2.0", "Bad Request-URI"],
    ["INVITE sip:a@b SIP/2.1", "Version Not Supported"],
    ["INVITE sip:a@b HTTP/1.1", "Bad request line"],
  ];
  for (const [line, reason] of cases) {
    assert.equal(reasonOf(() => parseMessage(bytes(line + tail))), reason, line);
  }
  // The version token is case-insensitive.
  assert.equal((parseMessage(bytes("BYE sip:a@b sip/2.0" + tail)) as SipRequest).method, "BYE");
});

Deno.test("parse: header line errors", () => {
  const pre = "OPTIONS sip:a@b SIP/2.0\r\n";
  assert.equal(reasonOf(() => parseMessage(bytes(pre + "NoColon\r\n\r\n"))), "Bad header");
  assert.equal(reasonOf(() => parseMessage(bytes(pre + ": v\r\n\r\n"))), "Bad header");
  assert.equal(reasonOf(() => parseMessage(bytes(pre + "Bad Name: v\r\n\r\n"))), "Bad header name");
  assert.equal(reasonOf(() => parseMessage(bytes(pre))), "Incomplete message");
});

Deno.test("parse: Content-Length frames the body; datagram extra bytes are dropped", () => {
  const head = "MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 5\r\n\r\n";
  const m = parseMessage(bytes(head + "hello + noise"));
  assert.equal(m.bodyText, "hello");
  assert.equal(reasonOf(() => parseMessage(bytes(head + "hey"))), "Bad Content-Length");
  const noLength = "MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\nbody";
  assert.equal(parseMessage(bytes(noLength)).bodyText, "body");
  assert.equal(
    reasonOf(() => parseMessage(bytes(noLength), { stream: true })),
    "Missing Content-Length",
  );
  for (const bad of ["-1", "5x", "", "99999999999", "0x10"]) {
    const text = `MESSAGE sip:a@b SIP/2.0\r\nContent-Length: ${bad}\r\n\r\n`;
    assert.equal(reasonOf(() => parseMessage(bytes(text))), "Bad Content-Length", bad);
  }
  // Repeated but equal values are tolerated; different ones are not.
  const twice = "MESSAGE sip:a@b SIP/2.0\r\nl: 2\r\nContent-Length: 2\r\n\r\nhi";
  assert.equal(parseMessage(bytes(twice)).bodyText, "hi");
});

Deno.test("parse: bodies of any size (64 KiB and more), UTF-8 counted in bytes", () => {
  const body = "a=" + "x".repeat(70_000) + "\r\n";
  const text = `INVITE sip:b@example.com SIP/2.0\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  assert.equal(parseMessage(bytes(text), { stream: true }).body.length, body.length);
  const utf8 = "s=Überraschung ☎";
  const n = enc.encode(utf8).length;
  const m = parseMessage(bytes(`MESSAGE sip:a@b SIP/2.0\r\nContent-Length: ${n}\r\n\r\n${utf8}`));
  assert.equal(m.bodyText, utf8);
});

Deno.test("parse: a body ending in a blank line, and non-ASCII heads, frame at the head's end", () => {
  // Ends like a bodiless message: the head's end is still the first blank line.
  const ascii = "MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 6\r\n\r\nhi\r\n\r\n";
  assert.equal(parseMessage(bytes(ascii), { stream: true }).bodyText, "hi\r\n\r\n");
  const bare = "MESSAGE sip:a@b SIP/2.0\nl: 3\n\nx\n\n";
  assert.equal(parseMessage(bytes(bare)).bodyText, "x\n\n");
  // Multi-byte text or a lone invalid byte in the head: string offsets are not byte offsets.
  for (const display of ["\u00dcber ☎", "\u{1F600}"]) {
    const text = `MESSAGE sip:a@b SIP/2.0\r\nFrom: "${display}" <sip:a@b>\r\nl: 2\r\n\r\nok`;
    const m = parseMessage(bytes(text + "\r\n\r\n"));
    assert.equal(m.from.displayName, display);
    assert.equal(m.bodyText, "ok");
    assert.equal(parseMessage(bytes(text)).bodyText, "ok");
  }
  const invalid = Uint8Array.from([
    ...bytes("MESSAGE sip:a@b SIP/2.0\r\nX: "),
    0x80,
    0xe2,
    0x82,
    ...bytes("\r\nl: 1\r\n\r\n!\r\n\r\n"),
  ]);
  const m = parseMessage(invalid);
  assert.equal(m.get("x"), "\ufffd\ufffd");
  assert.equal(m.bodyText, "!");
});

Deno.test("parse: leading CRLFs and bare LF line ends are accepted", () => {
  const m = parseMessage(bytes("\r\n\r\nOPTIONS sip:a@b SIP/2.0\nCall-ID: x\nl: 0\n\n"));
  assert.equal(m.callId, "x");
  assert.equal(findHeadEnd(bytes("A\r\n\r\nB")), 5);
  assert.equal(findHeadEnd(bytes("A\n\nB")), 3);
  assert.equal(findHeadEnd(bytes("A\r\n\r")), -1);
});

Deno.test("parse: IPv6 references in Via, Contact and Request-URI", () => {
  const text = crlf([
    "INVITE sip:bob@[2001:db8::10]:5070;transport=tcp SIP/2.0",
    "Via: SIP/2.0/TCP [2001:db8::9]:5060;branch=z9hG4bKa;received=[2001:db8::9]",
    "From: <sip:a@[::1]>;tag=1",
    "To: <sip:bob@[2001:db8::10]>",
    "Call-ID: v6",
    "CSeq: 1 INVITE",
    "Contact: <sip:a@[2001:db8::9]:5060;transport=tcp>",
    "Content-Length: 0",
    "",
    "",
  ]);
  const m = parseMessage(bytes(text));
  assert.equal(m.topVia.host, "2001:db8::9");
  assert.equal(m.topVia.port, 5060);
  assert.equal(m.topVia.params.get("received"), "[2001:db8::9]");
  assert.equal(m.from.uri.host, "::1");
  assert.equal(m.contacts[0].uri.port, 5060);
  validateMessage(m);
});

Deno.test("validateMessage: reasons for a 400", () => {
  const base = parseMessage(bytes(REGISTER));
  const variant = (edit: (s: string) => string) => parseMessage(bytes(edit(REGISTER)));
  validateMessage(base);
  const cases: [string, (s: string) => string][] = [
    ["Missing Via", (s) => s.replace(/Via: [^\r]*\r\n/, "")],
    ["Missing Call-ID", (s) => s.replace(/Call-ID: [^\r]*\r\n/, "")],
    [
      "Multiple CSeq",
      (s) => s.replace("CSeq: 1826 REGISTER", "CSeq: 1 REGISTER\r\nCSeq: 2 REGISTER"),
    ],
    ["CSeq method mismatch", (s) => s.replace("CSeq: 1826 REGISTER", "CSeq: 1826 INVITE")],
    ["Bad CSeq", (s) => s.replace("CSeq: 1826", "CSeq: 4294967296")],
    ["Bad Max-Forwards", (s) => s.replace("Max-Forwards: 70", "Max-Forwards: 256")],
    ["Bad Via", (s) => s.replace("SIP/2.0/UDP 192.0.2.1:5060", "SIP/2.0/UDP")],
  ];
  for (const [reason, edit] of cases) {
    assert.equal(reasonOf(() => validateMessage(variant(edit))), reason, reason);
  }
});

Deno.test("parse: the top Via is read where the parser cut it, and only while the line is that one", () => {
  const m = parseMessage(bytes(crlf([
    "OPTIONS sip:example.com SIP/2.0",
    "Via: SIP/2.0/UDP 192.0.2.1:5060 ;branch=z9hG4bK1;rport;maddr=192.0.2.9",
    "Via: SIP/2.0/TCP 192.0.2.2;branch=z9hG4bK2",
    "To: <sip:a@example.com>",
    "",
    "",
  ])));
  const value = m.get("via")!;
  assert.deepEqual(m.topVia, parseVia(value));
  assert.deepEqual(
    m.topVia.params,
    new Map([["branch", "z9hG4bK1"], ["rport", null], [
      "maddr",
      "192.0.2.9",
    ]]),
  );
  // A rewritten line is parsed from its new text, not from the head.
  m.headers.find((h) => h.key === "via")!.value = "SIP/2.0/TLS h.example.com:5061;branch=z9hG4bK3";
  assert.equal(m.topVia.transport, "TLS");
  assert.equal(m.topVia.params.get("branch"), "z9hG4bK3");
  // A range of a longer text parses as the text it spans, and its errors name that text.
  const line = "Via: SIP / 2.0 / udp host.example.com:5070;branch=z9hG4bKx\r\nTo: x";
  const from = 5, to = line.indexOf("\r\n");
  assert.deepEqual(parseVia(line, from, to), parseVia(line.slice(from, to)));
  assert.throws(
    () => parseVia("Via: SIP/2.0/UDP h x\r\nTo: y", 5, 20),
    { message: "Bad Via: SIP/2.0/UDP h x" },
  );
});

Deno.test("parse: credentials are located in the decoded head while the line reads the same", () => {
  const m = parseMessage(bytes(crlf([
    "REGISTER sip:example.com SIP/2.0",
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1",
    'Authorization:  Digest username="a", realm="r"  ',
    'Proxy-Authorization: Digest username="b"',
    "",
    "",
  ])));
  for (const key of ["authorization", "via"]) {
    const value = m.get(key)!;
    const at = m.locate(value);
    assert.equal(m.parsedHead.slice(at, at + value.length), value);
  }
  // Only the first credentials line is noted; another text is not found.
  assert.equal(m.locate(m.get("proxy-authorization")!), -1);
  assert.equal(m.locate('Digest username="a", realm="s"'), -1);
  m.headers.find((h) => h.key === "authorization")!.value = "Digest realm=x";
  assert.equal(m.locate(m.get("authorization")!), -1);
});
