import assert from "node:assert/strict";
import { CALM, DROP, ReceiveQueueWatch, refusal503, REFUSE, startsNewWork } from "./overload.ts";
import { intOption, setUdpReceiveBuffer, udpDescriptor } from "./socket_options.ts";
import { parseMessage } from "../sip/parse.ts";
import type { SipResponse } from "../sip/message.ts";

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
  // In a dialog (To tag): a re-INVITE, a SUBSCRIBE refresh, a MESSAGE of a started session.
  const inDialog = (start: string, to: string) =>
    enc(
      `${start}\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\nFrom: <sip:a@x>;tag=1\n` +
        `${to}\nCall-ID: c1\nCSeq: 2 X\nContent-Length: 0\n\n`,
    );
  assert.equal(startsNewWork(inDialog("INVITE sip:b@x SIP/2.0", "To: <sip:b@x>;tag=9")), false);
  assert.equal(startsNewWork(inDialog("SUBSCRIBE sip:b@x SIP/2.0", "t: sip:b@x ;TAG=9")), false);
  assert.equal(startsNewWork(inDialog("MESSAGE sip:b@x SIP/2.0", "to :<sip:b@x>;tag=9")), false);
  // A "tag" URI parameter inside the brackets is not a dialog's tag.
  assert.equal(startsNewWork(inDialog("INVITE sip:b@x SIP/2.0", "To: <sip:b@x;tag=u>")), true);
  // Methods are matched whole: PRACK is not PUBLISH, a method name only starts one.
  assert.equal(startsNewWork(head("PRACK sip:b@x SIP/2.0")), false);
  assert.equal(startsNewWork(head("REGISTERS sip:x SIP/2.0")), false);
  // A short To with a tag as the very last header still counts.
  assert.equal(startsNewWork(enc("INVITE sip:b@x SIP/2.0\ni: c\nt:b;tag=1\n\n")), false);
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

Deno.test("receive queue watch: once overload is declared, each sample admits or sheds by depth", () => {
  // A bound socket with an empty queue; its own timer does not fire during the test.
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const port = (socket.addr as Deno.NetAddr).port;
  // 1,000 bytes: overload declared at half full held 250 ms; then 503 from half full, drop
  // from 90 %; over once the queue has stayed at most a tenth full for 100 ms.
  const watch = new ReceiveQueueWatch("127.0.0.1", port, 1000, 3_600_000);
  try {
    const at = (queued: number, now: number) => {
      watch.update(queued, now);
      return watch.level;
    };
    assert.equal(at(600, 0), CALM);
    assert.equal(at(300, 100), CALM, "a short backlog (a GC pause) sheds nothing");
    assert.equal(at(600, 200), CALM);
    assert.equal(at(600, 449), CALM, "half full for less than 250 ms");
    assert.equal(at(600, 450), REFUSE, "half full for 250 ms: overload, new work refused");
    // Declared: every sample decides, with no delay either way.
    assert.equal(at(300, 460), CALM, "below half: new work admitted");
    assert.equal(at(500, 470), REFUSE, "half full: refused at once");
    assert.equal(at(900, 480), DROP, "nearly full: dropped");
    assert.equal(at(700, 490), REFUSE);
    assert.equal(at(50, 500), CALM);
    assert.equal(at(50, 590), CALM);
    assert.equal(at(600, 595), REFUSE, "refilled within 100 ms: still overload");
    assert.equal(at(100, 600), CALM);
    assert.equal(at(100, 699), CALM);
    assert.equal(at(600, 699), REFUSE);
    // At most a tenth full for 100 ms: over, back to the 250 ms rule.
    assert.equal(at(100, 700), CALM);
    assert.equal(at(0, 800), CALM);
    assert.equal(at(600, 810), CALM, "overload is over");
    assert.equal(at(950, 820), CALM);
    assert.equal(at(950, 1070), DROP, "half full for 250 ms again, and nearly full");
  } finally {
    watch.close();
    socket.close();
  }
});

Deno.test("receive queue watch: a large buffer is headroom; behind from 256 KiB, drop from 512", () => {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const port = (socket.addr as Deno.NetAddr).port;
  const buffer = 8 * 1024 * 1024;
  const watch = new ReceiveQueueWatch("127.0.0.1", port, buffer, 3_600_000);
  try {
    const at = (queued: number, now: number) => {
      watch.update(queued, now);
      return watch.level;
    };
    const behind = 256 * 1024;
    assert.equal(at(behind, 0), CALM);
    assert.equal(at(behind, 250), REFUSE, "256 KiB deep for 250 ms: overload, far from half full");
    assert.equal(at(behind - 1, 260), CALM, "below 256 KiB: admitted");
    assert.equal(at(2 * behind - 1, 270), REFUSE);
    assert.equal(at(2 * behind, 275), DROP, "twice behind: refusing does not keep up, dropped");
    assert.equal(at(buffer / 2, 280), DROP);
    // Calm once at most a fifth of 256 KiB for 100 ms.
    assert.equal(at(behind / 5, 300), CALM);
    assert.equal(at(behind, 399), REFUSE, "refilled within 100 ms: still overload");
    assert.equal(at(behind / 5, 400), CALM);
    assert.equal(at(0, 500), CALM);
    assert.equal(at(behind, 510), CALM, "overload is over");
  } finally {
    watch.close();
    socket.close();
  }
});

Deno.test("receive queue watch: a deep queue that is draining is not overload unless it lasts a second", () => {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const port = (socket.addr as Deno.NetAddr).port;
  const watch = new ReceiveQueueWatch("127.0.0.1", port, 8 * 1024 * 1024, 3_600_000);
  const KiB = 1024;
  try {
    const at = (queued: number, now: number) => {
      watch.update(queued, now);
      return watch.level;
    };
    // A fresh process's warm-up: the queue grew while code was compiled, then drains.
    assert.equal(at(300 * KiB, 0), CALM);
    assert.equal(at(900 * KiB, 150), CALM);
    assert.equal(at(700 * KiB, 250), CALM, "deep for 250 ms but draining: not overload");
    assert.equal(at(400 * KiB, 400), CALM);
    assert.equal(at(100 * KiB, 500), CALM, "drained: nothing was shed");
    // Deep again, draining, but still deep a second later: overload after all.
    assert.equal(at(900 * KiB, 600), CALM);
    assert.equal(at(700 * KiB, 900), CALM);
    assert.equal(at(600 * KiB, 1599), CALM);
    assert.equal(at(600 * KiB, 1600), DROP, "deep for a second, twice behind: dropped");
    assert.equal(at(0, 1700), CALM);
    assert.equal(at(0, 1800), CALM);
    // Refilled to its peak after a dip: an offered rate above capacity, declared at 250 ms.
    assert.equal(at(900 * KiB, 2000), CALM);
    assert.equal(at(700 * KiB, 2100), CALM);
    assert.equal(at(900 * KiB, 2250), DROP, "back at its peak after 250 ms: overload");
  } finally {
    watch.close();
    socket.close();
  }
});

Deno.test("receive queue watch: 100 ms of drops or 2 MiB queued cut the buffer to 512 KiB", () => {
  if (Deno.build.os !== "linux") return;
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const port = (socket.addr as Deno.NetAddr).port;
  const asked = 2 * 1024 * 1024;
  const rmemMax = Number(Deno.readTextFileSync("/proc/sys/net/core/rmem_max"));
  const buffer = setUdpReceiveBuffer(port, asked, "127.0.0.1");
  const fd = udpDescriptor(port, "127.0.0.1");
  if (buffer === undefined || fd === undefined || rmemMax < asked) {
    socket.close();
    return; // no libc, or a system whose rmem_max keeps the buffer small: nothing to cut
  }
  const watch = new ReceiveQueueWatch("127.0.0.1", port, buffer, 3_600_000);
  const reported = () => intOption(fd, 1, /* SOL_SOCKET */ 8 /* SO_RCVBUF */);
  const small = 512 * 1024;
  try {
    const at = (queued: number, now: number) => {
      watch.update(queued, now);
      return watch.level;
    };
    const deep = 600 * 1024; // past the drop level (512 KiB), short of 2 MiB
    assert.equal(at(deep, 0), CALM);
    assert.equal(at(deep, 250), DROP, "deep for 250 ms, twice behind: dropped");
    assert.equal(at(deep, 349), DROP);
    assert.equal(reported(), buffer, "dropping for less than 100 ms: the buffer is kept");
    assert.equal(at(deep, 350), DROP);
    assert.equal(reported(), small, "dropping for 100 ms: cut");
    assert.equal(at(300 * 1024, 360), REFUSE);
    assert.equal(reported(), small, "still overload: still cut");
    assert.equal(at(0, 400), CALM);
    assert.equal(at(0, 500), CALM);
    assert.equal(reported(), buffer, "overload over: its size again");
    // Declared again, and 2 MiB queued at once: cut on that sample.
    assert.equal(at(deep, 600), CALM);
    assert.equal(at(deep, 850), DROP);
    assert.equal(reported(), buffer);
    assert.equal(at(2 * 1024 * 1024, 860), DROP);
    assert.equal(reported(), small, "2 MiB queued: starved, cut");
  } finally {
    watch.close();
    socket.close();
  }
});

Deno.test("refusal503: a 503 + Retry-After answering the request, from its raw lines", () => {
  const request = enc(
    "REGISTER sip:example.test SIP/2.0\n" +
      "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1;rport\n" +
      "v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK0\n" +
      "Max-Forwards: 70\n" +
      'From: "A" <sip:a@example.test>;tag=9\n' +
      "To: <sip:a@example.test>\n" +
      "Call-ID: abc\n" +
      "  def\n" +
      "CSeq: 1 REGISTER\n" +
      "Contact: <sip:a@127.0.0.1:5070>\n" +
      "Content-Length: 0\n\n",
  );
  const bytes = refusal503(request)!;
  const text = new TextDecoder().decode(bytes);
  assert.equal(
    text,
    "SIP/2.0 503 Service Unavailable\r\n" +
      "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1;rport\r\n" +
      "v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK0\r\n" +
      'From: "A" <sip:a@example.test>;tag=9\r\n' +
      "To: <sip:a@example.test>;tag=shed503\r\n" +
      "Call-ID: abc\r\n" +
      "  def\r\n" +
      "CSeq: 1 REGISTER\r\n" +
      "Retry-After: 2\r\nContent-Length: 0\r\n\r\n",
  );
  const parsed = parseMessage(bytes);
  assert.ok(!parsed.isRequest);
  assert.equal((parsed as SipResponse).status, 503);
  assert.equal(parsed.get("retry-after"), "2");
  assert.equal(parsed.getAll("via").length, 2);
});

Deno.test("refusal503: bare LF, compact names, a To tag kept; nothing without the headers", () => {
  const lf = new TextEncoder().encode(
    "INVITE sip:b@x SIP/2.0\nv: SIP/2.0/UDP h;branch=z9hG4bKa\nf: <sip:a@x>;tag=1\n" +
      "t: <sip:b@x;tag=uri>;TAG=2\ni: c1\nCSeq: 7 INVITE\nl: 0\n\n",
  );
  const text = new TextDecoder().decode(refusal503(lf)!);
  assert.match(
    text,
    /^SIP\/2\.0 503 Service Unavailable\r\nv: SIP\/2\.0\/UDP h;branch=z9hG4bKa\r\n/,
  );
  assert.match(text, /\r\nt: <sip:b@x;tag=uri>;TAG=2\r\n/);
  assert.doesNotMatch(text, /shed503/);
  assert.match(text, /\r\ni: c1\r\nCSeq: 7 INVITE\r\nRetry-After: 2\r\n/);
  // The body is not read for headers; a missing Call-ID means no answer.
  const noCallId = enc(
    "OPTIONS sip:x SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bKb\nFrom: <sip:a@x>;tag=1\n" +
      "To: <sip:x>\nCSeq: 1 OPTIONS\nContent-Length: 10\n\nCall-ID: x",
  );
  assert.equal(refusal503(noCallId), undefined);
  assert.equal(refusal503(new Uint8Array(0)), undefined);
  assert.equal(refusal503(enc("REGISTER sip:x SIP/2.0")), undefined);
});

Deno.test("refusal503: each refusal keeps its own bytes (they are built in one shared buffer)", () => {
  const first = refusal503(head("REGISTER sip:x SIP/2.0"))!;
  const text = new TextDecoder().decode(first);
  const long = head("INVITE sip:b@x SIP/2.0", `Subject: ${"x".repeat(5000)}\n`);
  const second = refusal503(long)!;
  assert.equal(new TextDecoder().decode(first), text, "the next refusal does not overwrite it");
  assert.notEqual(first.buffer, second.buffer);
  assert.equal(first.byteLength, first.buffer.byteLength);
  assert.match(new TextDecoder().decode(second), /^SIP\/2\.0 503 .*CSeq: 1 X\r\n/s);
});
