/**
 * @module Parser micro-benchmark: parses a typical browser REGISTER and an INVITE carrying a
 * WebRTC-sized SDP (~3.5 KB) in a bounded loop and reports messages per second, plus the
 * same with the hot headers read (what the transaction layer and core do per request).
 * Run `deno run -A bench/parser_bench.ts`; a bench driver imports `runParserBench`. No I/O
 * besides printing one JSON line when run as a script. `--root=DIR` (repeatable) measures
 * other checkouts' `parseMessage` in interleaved rounds (`--rounds=N`, default 4), one JSON
 * line per root and round, so background load hits every tree alike.
 */
import { parseMessage } from "../src/sip/parse.ts";
import type { SipMessage } from "../src/sip/message.ts";

const enc = new TextEncoder();

export const REGISTER_TEXT = [
  "REGISTER sip:example.com SIP/2.0",
  "Via: SIP/2.0/WSS 8fn2k1lq0d3e.invalid;branch=z9hG4bK1766311",
  "Max-Forwards: 69",
  "To: <sip:alice@example.com>",
  'From: "Alice" <sip:alice@example.com>;tag=vm5n7s2ld1',
  "Call-ID: 2tbn8mq0r1skd0b1vlh5q3",
  "CSeq: 2 REGISTER",
  'Contact: <sip:r6k2l0aa@8fn2k1lq0d3e.invalid;transport=ws>;+sip.ice;reg-id=1;+sip.instance="<urn:uuid:0b7b1e44-8d65-4b1e-9e44-7a4cf0fd9a11>";expires=600',
  "Expires: 600",
  "Allow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO,NOTIFY",
  "Supported: path,gruu,outbound",
  "User-Agent: JsSIP 3.13.8",
  "Content-Length: 0",
  "",
  "",
].join("\r\n");

function sdp(): string {
  const lines = [
    "v=0",
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0 1",
    "a=extmap-allow-mixed",
    "a=msid-semantic: WMS 5bd3bb3c-1b5a-4a0f-9f25-0c3c5a6bd2a1",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
    "c=IN IP4 0.0.0.0",
    "a=rtcp:9 IN IP4 0.0.0.0",
  ];
  for (let i = 0; i < 4; i++) {
    lines.push(
      `a=candidate:${1000 + i} 1 udp 2122260223 192.0.2.${10 + i} ${
        50000 + i
      } typ host generation 0 network-id 1`,
    );
  }
  lines.push(
    "a=ice-ufrag:Yx9s",
    "a=ice-pwd:kB8m0v1WcY3pTqG7n9z2LsRh",
    "a=ice-options:trickle",
    "a=fingerprint:sha-256 6B:8B:5D:EA:59:04:20:23:29:C8:87:1C:CC:87:32:BE:DD:8C:66:A5:8E:50:55:EA:8C:D3:B6:5C:09:5E:79:F2",
    "a=setup:actpass",
    "a=mid:0",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
    "a=sendrecv",
    "a=msid:5bd3bb3c-1b5a-4a0f-9f25-0c3c5a6bd2a1 0f3a4c8e-8a51-4f52-9a5e-8d6b2a1d9c44",
    "a=rtcp-mux",
    "a=rtpmap:111 opus/48000/2",
    "a=rtcp-fb:111 transport-cc",
    "a=fmtp:111 minptime=10;useinbandfec=1",
    "a=rtpmap:63 red/48000/2",
    "a=fmtp:63 111/111",
    "a=rtpmap:9 G722/8000",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:13 CN/8000",
    "a=rtpmap:110 telephone-event/48000",
    "a=rtpmap:126 telephone-event/8000",
    "a=ssrc:3735928559 cname:n5Y2mQ8vK1xL0pRz",
    "a=ssrc:3735928559 msid:5bd3bb3c-1b5a-4a0f-9f25-0c3c5a6bd2a1 0f3a4c8e-8a51-4f52-9a5e-8d6b2a1d9c44",
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99 100 101 102",
    "c=IN IP4 0.0.0.0",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=ice-ufrag:Yx9s",
    "a=ice-pwd:kB8m0v1WcY3pTqG7n9z2LsRh",
    "a=ice-options:trickle",
    "a=fingerprint:sha-256 6B:8B:5D:EA:59:04:20:23:29:C8:87:1C:CC:87:32:BE:DD:8C:66:A5:8E:50:55:EA:8C:D3:B6:5C:09:5E:79:F2",
    "a=setup:actpass",
    "a=mid:1",
    "a=sendrecv",
    "a=rtcp-mux",
    "a=rtcp-rsize",
  );
  for (const [pt, name] of [[96, "VP8"], [98, "VP9"], [100, "H264"], [102, "AV1"]] as const) {
    lines.push(
      `a=rtpmap:${pt} ${name}/90000`,
      `a=rtcp-fb:${pt} goog-remb`,
      `a=rtcp-fb:${pt} transport-cc`,
      `a=rtcp-fb:${pt} ccm fir`,
      `a=rtcp-fb:${pt} nack`,
      `a=rtcp-fb:${pt} nack pli`,
      `a=rtpmap:${pt + 1} rtx/90000`,
      `a=fmtp:${pt + 1} apt=${pt}`,
    );
  }
  lines.push("a=ssrc-group:FID 1111111111 2222222222", "a=ssrc:1111111111 cname:n5Y2mQ8vK1xL0pRz");
  return lines.join("\r\n") + "\r\n";
}

export const INVITE_SDP = sdp();

export const INVITE_TEXT = [
  "INVITE sip:bob@example.com SIP/2.0",
  "Via: SIP/2.0/WSS 8fn2k1lq0d3e.invalid;branch=z9hG4bK9921034",
  "Max-Forwards: 69",
  "To: <sip:bob@example.com>",
  'From: "Alice" <sip:alice@example.com>;tag=q2l0c8v1hn',
  "Call-ID: c8v1hn0sdj3k2l0mq9za",
  "CSeq: 7734 INVITE",
  'Contact: <sip:r6k2l0aa@8fn2k1lq0d3e.invalid;transport=ws;ob>;+sip.instance="<urn:uuid:0b7b1e44-8d65-4b1e-9e44-7a4cf0fd9a11>"',
  "Route: <sip:proxy.example.com;transport=ws;lr>",
  "Allow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO,NOTIFY",
  "Supported: ice,replaces,outbound",
  "User-Agent: JsSIP 3.13.8",
  "Content-Type: application/sdp",
  `Content-Length: ${enc.encode(INVITE_SDP).length}`,
  "",
  INVITE_SDP,
].join("\r\n");

/** Runs `fn` up to `iterations` times (stopping early after `maxMs`) and returns ops/s. */
function measure(fn: () => void, iterations: number, maxMs: number): number {
  for (let i = 0; i < Math.min(2000, iterations); i++) fn(); // warm up the JIT
  const start = performance.now();
  let done = 0;
  while (done < iterations) {
    for (let i = 0; i < 1000 && done < iterations; i++, done++) fn();
    if (performance.now() - start > maxMs) break;
  }
  const seconds = (performance.now() - start) / 1000;
  return Math.round(done / seconds);
}

function readHot(m: SipMessage): void {
  void m.topVia.params.get("branch");
  void m.from.params.get("tag");
  void m.to;
  void m.callId;
  void m.cseq;
  void m.maxForwards;
  void m.contacts;
}

export interface ParserBenchOptions {
  /** Parses per case (bounded). */
  iterations?: number;
  /** Wall-clock cap per case in milliseconds. */
  maxMs?: number;
}

/** Parses the REGISTER and the INVITE N times each; returns messages per second. */
export function runParserBench(
  options: ParserBenchOptions = {},
  parse: (bytes: Uint8Array) => SipMessage = parseMessage,
): Promise<Record<string, number>> {
  const iterations = options.iterations ?? 200_000;
  const maxMs = options.maxMs ?? 10_000;
  const register = enc.encode(REGISTER_TEXT);
  const invite = enc.encode(INVITE_TEXT);
  const result: Record<string, number> = {
    register_per_s: measure(() => void parse(register), iterations, maxMs),
    invite_per_s: measure(() => void parse(invite), iterations, maxMs),
    register_read_hot_per_s: measure(() => readHot(parse(register)), iterations, maxMs),
    invite_read_hot_per_s: measure(() => readHot(parse(invite)), iterations, maxMs),
    register_bytes: register.length,
    invite_bytes: invite.length,
  };
  return Promise.resolve(result);
}

if (import.meta.main) {
  const roots = Deno.args.filter((a) => a.startsWith("--root=")).map((a) => a.slice(7));
  if (roots.length === 0) {
    const result = await runParserBench();
    console.log(JSON.stringify({ name: "parser", ...result }));
  } else {
    const rounds = Number(Deno.args.find((a) => a.startsWith("--rounds="))?.slice(9) ?? 4);
    const parsers: ((bytes: Uint8Array) => SipMessage)[] = [];
    for (const root of roots) {
      const url = new URL(`file://${Deno.realPathSync(root)}/src/sip/parse.ts`);
      parsers.push((await import(url.href)).parseMessage);
    }
    for (let round = 0; round < rounds; round++) {
      for (let r = 0; r < roots.length; r++) {
        const result = await runParserBench({ iterations: 100_000, maxMs: 3000 }, parsers[r]);
        console.log(JSON.stringify({ name: "parser", root: roots[r], round, ...result }));
      }
    }
  }
}
