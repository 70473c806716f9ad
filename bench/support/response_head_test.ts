import assert from "node:assert/strict";

const assertEquals = (actual: unknown, expected: unknown) => assert.deepEqual(actual, expected);
import { readHead } from "./response_head.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("readHead reads status, Call-ID, CSeq and Content-Length in any case or compact form", () => {
  const text = "SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/TCP 127.0.0.1:5;branch=z9hG4bK1\r\n" +
    "Contact: <sip:a@127.0.0.1>\r\ni :  abc-1@bench  \r\nCSEQ: 7 REGISTER\r\nl: 3\r\n\r\nxyz";
  const b = bytes(text);
  assertEquals(readHead(b, 0, b.length), {
    status: 401,
    callId: "abc-1@bench",
    cseq: "7",
    headLength: text.indexOf("xyz"),
    contentLength: 3,
  });
});

Deno.test("readHead frames responses one after another and waits for a whole head", () => {
  const one = "SIP/2.0 200 OK\r\nCall-ID: x\r\nCSeq: 2 REGISTER\r\nContent-Length: 0\r\n\r\n";
  const b = bytes(one + one.slice(0, 20));
  const first = readHead(b, 0, b.length)!;
  assertEquals([first.status, first.callId, first.headLength], [200, "x", one.length]);
  assertEquals(readHead(b, one.length, b.length), undefined);
  // Bytes past `to` (a reused read buffer's stale tail) are not read.
  assertEquals(readHead(bytes(one), 0, one.length - 2), undefined);
});

Deno.test("readHead marks a request with status 0", () => {
  const b = bytes("OPTIONS sip:a SIP/2.0\r\nCall-ID: y\r\nCSeq: 1 OPTIONS\r\n\r\n");
  assertEquals(readHead(b, 0, b.length)?.status, 0);
});
