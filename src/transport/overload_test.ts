import assert from "node:assert/strict";
import { CALM, DROP, ReceiveQueueWatch, REFUSE, startsNewWork } from "./overload.ts";

const enc = (s: string) => new TextEncoder().encode(s.replaceAll("\n", "\r\n"));
const head = (start: string, extra = "") =>
  enc(
    `${start}\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\nFrom: <sip:a@x>;tag=1\n` +
      `To: <sip:a@x>\nCall-ID: c1\nCSeq: 1 X\n${extra}Content-Length: 0\n\n`,
  );

Deno.test("new work: out-of-credentials REGISTER/INVITE/...; not the second leg, ACK, BYE, responses", () => {
  assert.equal(startsNewWork(head("REGISTER sip:x SIP/2.0")), true);
  assert.equal(startsNewWork(head("INVITE sip:b@x SIP/2.0")), true);
  assert.equal(startsNewWork(head("OPTIONS sip:x SIP/2.0")), true);
  assert.equal(
    startsNewWork(head("REGISTER sip:x SIP/2.0", 'Authorization: Digest username="a"\n')),
    false,
  );
  assert.equal(
    startsNewWork(head("INVITE sip:b@x SIP/2.0", 'proxy-authorization : Digest username="a"\n')),
    false,
  );
  for (const start of ["ACK sip:b@x SIP/2.0", "BYE sip:b@x SIP/2.0", "CANCEL sip:b@x SIP/2.0"]) {
    assert.equal(startsNewWork(head(start)), false, start);
  }
  assert.equal(startsNewWork(head("SIP/2.0 200 OK")), false);
  // A body mentioning the header is not a header.
  const body = enc("REGISTER sip:x SIP/2.0\nCall-ID: c\n\nAuthorization: x\n");
  assert.equal(startsNewWork(body), true);
});

Deno.test("receive queue watch: a queue deep for 250 ms → refuse/drop; drained → calm", async () => {
  if (Deno.build.os !== "linux") return;
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const port = (socket.addr as Deno.NetAddr).port;
  const sender = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const watch = new ReceiveQueueWatch("127.0.0.1", port, 64 * 1024, 10);
  try {
    assert.equal(watch.level, CALM);
    const datagram = new Uint8Array(500);
    const target = { transport: "udp" as const, hostname: "127.0.0.1", port };
    for (let i = 0; i < 200; i++) await sender.send(datagram, target);
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(watch.level, CALM, "deep for less than 250 ms: not overload yet");
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(watch.level === REFUSE || watch.level === DROP, `level ${watch.level}`);
    // Read everything queued; the next samples see an empty queue.
    const buffer = new Uint8Array(2048);
    const drain = (async () => {
      for (;;) await socket.receive(buffer);
    })().catch(() => {});
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(watch.level, CALM);
    socket.close();
    await drain;
  } finally {
    watch.close();
    sender.close();
    try {
      socket.close();
    } catch { /* closed */ }
  }
});
