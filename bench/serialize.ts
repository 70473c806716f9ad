/**
 * @module CPU cost of the SIP layer's per-message string work on the call path, several
 * checkouts in one process: `toBytes` of the messages the proxy sends for one call (407,
 * the forwarded INVITE with SDP, 100, 180, 200 with SDP, ACK, BYE, 200) and the From/To
 * `tagParam` reads one call makes (loop hash, dialog checks, transaction matching: 3 a
 * request, 2 a response). The messages are parsed from text first, so header values are
 * slices of a decoded head as they are in the server. `--root=DIR` (repeatable, default
 * this checkout) loads each tree's `src/sip/`; rounds alternate trees (`--rounds=N`,
 * default 8; `--n=N` calls a round, default 20 000) and report process CPU µs per call
 * (min and median); `--only=bytes|forward|tags` times one part alone. Run `deno run -A bench/serialize.ts --root=/work/main --root=.`.
 * Not part of the product.
 */
import { arg, argAll } from "./support/args.ts";
import { processCpuUs as cpuUs } from "./support/proc.ts";

const roots = argAll("root");
if (roots.length === 0) roots.push(new URL("..", import.meta.url).pathname);
const N = Number(arg("n") ?? 20_000);
const ROUNDS = Number(arg("rounds") ?? 8);
/** `--only=bytes`, `tags` or `forward`: one part alone. */
const ONLY = arg("only");

const SDP = "v=0\r\no=caller 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n" +
  "c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
const RR = "<sip:127.0.0.1:5060;transport=udp;lr;ftag=f1a2b3c4;" +
  "swa=dWRwfDEyNy4wLjAuMXw1MDYx.AbCdEfGhIjKl;swb=dWRwfDEyNy4wLjAuMXw1MDcw.AbCdEfGhIjKl>";
const PROXY_VIA = "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-sw-0123456789abcdef-01234567;" +
  "rport;swu=dWRwfDEyNy4wLjAuMXw1MDYx.AbCdEfGhIjKl";
const UA_VIA = "SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1234-1;received=127.0.0.1;rport=5061";
const FROM = "<sip:alice@example.test>;tag=f1a2b3c4";
const TO = "<sip:bob@example.test>";
const TO_TAGGED = `${TO};tag=b9c8d7e6`;
const CALL_ID = "1-4242@127.0.0.1";

function head(start: string, lines: [string, string][], body = ""): string {
  return `${start}\r\n${lines.map(([n, v]) => `${n}: ${v}\r\n`).join("")}` +
    `Content-Length: ${body.length}\r\n\r\n${body}`;
}

/** What the proxy sends for one call, as text (its head then parsed, as received). */
const TEXTS = [
  head("SIP/2.0 407 Proxy Authentication Required", [
    ["Via", UA_VIA],
    ["From", FROM],
    ["To", `${TO};tag=sw407`],
    ["Call-ID", CALL_ID],
    ["CSeq", "1 INVITE"],
    [
      "Proxy-Authenticate",
      'Digest realm="example.test", nonce="AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", algorithm=MD5, qop="auth"',
    ],
  ]),
  head("INVITE sip:bob@127.0.0.1:5070 SIP/2.0", [
    ["Via", PROXY_VIA],
    ["Via", UA_VIA],
    ["Record-Route", RR],
    ["Max-Forwards", "69"],
    ["From", FROM],
    ["To", TO],
    ["Call-ID", CALL_ID],
    ["CSeq", "2 INVITE"],
    ["Contact", "<sip:alice@127.0.0.1:5061>"],
    ["Content-Type", "application/sdp"],
  ], SDP),
  head("SIP/2.0 100 Trying", [
    ["Via", UA_VIA],
    ["From", FROM],
    ["To", TO],
    ["Call-ID", CALL_ID],
    ["CSeq", "2 INVITE"],
  ]),
  ...[["180 Ringing", ""], ["200 OK", SDP]].map(([status, body]) =>
    head(`SIP/2.0 ${status}`, [
      ["Via", UA_VIA],
      ["Record-Route", RR],
      ["From", FROM],
      ["To", TO_TAGGED],
      ["Call-ID", CALL_ID],
      ["CSeq", "2 INVITE"],
      ["Contact", "<sip:bob@127.0.0.1:5070>"],
      ...(body ? [["Content-Type", "application/sdp"] as [string, string]] : []),
    ], body)
  ),
  ...["2 ACK", "3 BYE"].map((cseq) =>
    head(`${cseq.split(" ")[1]} sip:bob@127.0.0.1:5070 SIP/2.0`, [
      ["Via", PROXY_VIA],
      ["Via", UA_VIA],
      ["Max-Forwards", "69"],
      ["From", FROM],
      ["To", TO_TAGGED],
      ["Call-ID", CALL_ID],
      ["CSeq", cseq],
    ])
  ),
  head("SIP/2.0 200 OK", [
    ["Via", UA_VIA],
    ["From", FROM],
    ["To", TO_TAGGED],
    ["Call-ID", CALL_ID],
    ["CSeq", "3 BYE"],
  ]),
];

interface Subject {
  root: string;
  call: () => number;
  rounds: number[];
}

async function subject(root: string): Promise<Subject> {
  const { parseMessage } = await import(`${root}/src/sip/parse.ts`);
  const { tagParam } = await import(`${root}/src/sip/tag.ts`);
  const encoder = new TextEncoder();
  // deno-lint-ignore no-explicit-any
  const messages: any[] = TEXTS.map((t) => parseMessage(encoder.encode(t)));
  return {
    root,
    rounds: [],
    call: () => {
      let n = 0;
      for (const m of messages) {
        if (m.isRequest && (ONLY === undefined || ONLY === "forward")) {
          // What the proxy's forwarding does to the request it received (§16.6).
          const out = m.clone();
          out.set("max-forwards", "68");
          out.prepend("Via", PROXY_VIA);
          n += out.headers.length;
        }
        if (ONLY === undefined || ONLY === "bytes") n += m.toBytes().length;
        if (ONLY !== undefined && ONLY !== "tags") continue;
        const reads = m.isRequest ? 3 : 2;
        for (let i = 0; i < reads; i++) {
          n += tagParam(m.get("from") ?? "").length + tagParam(m.get("to") ?? "").length;
        }
      }
      return n;
    },
  };
}

const subjects: Subject[] = [];
for (const root of roots) subjects.push(await subject(root));
let sink = 0;
for (const s of subjects) for (let i = 0; i < 2000; i++) sink += s.call(); // warm-up
for (let round = 0; round < ROUNDS; round++) {
  for (const s of subjects) {
    const t0 = cpuUs();
    for (let i = 0; i < N; i++) sink += s.call();
    s.rounds.push((cpuUs() - t0) / N);
  }
}
for (const s of subjects) {
  const sorted = [...s.rounds].sort((a, b) => a - b);
  console.log(JSON.stringify({
    root: s.root,
    cpu_us_per_call_min: Math.round(sorted[0] * 100) / 100,
    cpu_us_per_call_median: Math.round(sorted[sorted.length >> 1] * 100) / 100,
    rounds: s.rounds.map((r) => Math.round(r * 100) / 100),
    sink: sink > 0,
  }));
}
