/**
 * @module CPU cost of the parsing and validation one REGISTER + digest registration does on
 * the server (its two requests): parse, the received/rport stamp, the transaction key's top
 * Via, the sanity check, and what the registrar and authenticator read (To, Contact,
 * Call-ID, CSeq, Expires, Path, Supported, the Digest credentials). No sockets, no
 * transactions, no hashing: only the parse side of `bench/core_path.ts`. `--root=DIR`
 * (repeatable) measures several checkouts in one process, in interleaved rounds, so load
 * from other work hits each alike; reports process CPU µs per registration (min and median
 * of the rounds) and the bytes allocated per registration (heap growth over a round that no
 * collection interrupted). `--shape=open` sends the open-loop load's requests instead
 * (bench/scenarios/register_digest.xml: a new Call-ID and From tag per registration, CSeq 1
 * then 2, the Contact with `transport=UDP` and the Authorization without spaces), cycling
 * through 10,000 of them so From misses the shared name-addr parses as it does there.
 * Run `deno run -A bench/request_parse.ts --root=/work/main --root=.`. Not part of the product.
 */
import { arg, argAll } from "./support/args.ts";
import { BENCH_FLOW } from "./support/fake_sender.ts";
import { openRegisterText } from "./support/register_texts.ts";
import { processCpuUs } from "./support/proc.ts";

const roots = argAll("root");
if (roots.length === 0) roots.push(new URL("..", import.meta.url).pathname);
const N = 50_000;
const ROUNDS = 8;

const encoder = new TextEncoder();
const credentials = `Digest username="bench", realm="example.test", ` +
  `nonce="AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", uri="sip:example.test", ` +
  `response="0123456789abcdef0123456789abcdef", algorithm=MD5, qop=auth, nc=00000001, ` +
  `cnonce="c123"`;
const OPEN = (arg("shape") ?? "closed") === "open";
/** The two requests of one registration, as bench/core_path.ts sends them. */
const closedRequests = [undefined, credentials].map((auth) =>
  encoder.encode(
    `REGISTER sip:example.test SIP/2.0\r\n` +
      `Via: SIP/2.0/UDP 127.0.0.1:40001;branch=z9hG4bKcore.1234;rport\r\n` +
      `Max-Forwards: 70\r\nFrom: <sip:bench@example.test>;tag=f1\r\n` +
      `To: <sip:bench@example.test>\r\nCall-ID: core-1@bench\r\nCSeq: 12 REGISTER\r\n` +
      `Contact: <sip:ua1@127.0.0.1:40001>\r\nExpires: 3600\r\n` +
      (auth ? `Authorization: ${auth}\r\n` : "") + `Content-Length: 0\r\n\r\n`,
  )
);
const openCredentials = credentials.replaceAll(", ", ",");
/** As bench/core_path.ts --shape=open sends them: registration `call`'s two requests. */
const openRequests = (call: number) =>
  [undefined, openCredentials].map((auth) =>
    encoder.encode(openRegisterText("sip:example.test", 2 * call + (auth ? 1 : 0), call, auth))
  );
const registrations = OPEN
  ? Array.from({ length: 10_000 }, (_, call) => openRequests(call))
  : [closedRequests];

const cpuMs = () => processCpuUs() / 1000;

let sink = 0;
interface Subject {
  root: string;
  registration: () => void;
  rounds: number[];
}

async function subject(root: string): Promise<Subject> {
  const { parseMessage } = await import(`${root}/src/sip/parse.ts`);
  const { stampReceived } = await import(`${root}/src/transport/stamp_received.ts`);
  const { checkRequest } = await import(`${root}/src/core/sanity.ts`);
  const { parseDigest } = await import(`${root}/src/sip/digest.ts`);
  const one = (bytes: Uint8Array) => {
    const m = parseMessage(bytes, { stream: false });
    stampReceived(m, BENCH_FLOW);
    sink += m.topVia.params.get("branch").length;
    checkRequest(m, true);
    sink += m.to.uri.host.length;
    for (const c of m.getAll("authorization")) {
      // Where the authenticator reads it: in the decoded head when the tree can.
      const at = m.locate ? m.locate(c) : -1;
      const p = at < 0 ? parseDigest(c) : parseDigest(m.parsedHead, at, at + c.length);
      sink += p.username.length;
    }
    sink += m.contacts.length + m.callId.length + m.cseq.seq;
    sink += (m.get("expires") ?? "").length + m.getAll("path").length;
    sink += (m.get("user-agent") ?? "").length + m.getAll("supported").length;
    sink += m.getAll("via").length;
  };
  let next = 0;
  const registration = () => {
    const requests = registrations[next];
    next = next + 1 === registrations.length ? 0 : next + 1;
    one(requests[0]);
    one(requests[1]);
  };
  for (let i = 0; i < 20_000; i++) registration();
  return { root, registration, rounds: [] };
}

const subjects: Subject[] = [];
for (const root of roots) subjects.push(await subject(root));
for (let r = 0; r < ROUNDS; r++) {
  for (const s of subjects) {
    const t0 = cpuMs();
    for (let i = 0; i < N; i++) s.registration();
    s.rounds.push(((cpuMs() - t0) * 1000) / N);
  }
}
/**
 * Heap growth per registration over short rounds: a collection during a round can only
 * lower its figure, so the largest round is one that no collection interrupted.
 */
function allocatedBytes(s: Subject): number {
  let most = 0;
  for (let r = 0; r < 20; r++) {
    const before = Deno.memoryUsage().heapUsed;
    for (let i = 0; i < 200; i++) s.registration();
    most = Math.max(most, (Deno.memoryUsage().heapUsed - before) / 200);
  }
  return Math.round(most);
}

for (const s of subjects) {
  const sorted = s.rounds.toSorted((a, b) => a - b);
  console.log(JSON.stringify({
    root: s.root,
    registrations: N * ROUNDS,
    cpu_us_per_registration_min: Math.round(sorted[0] * 100) / 100,
    cpu_us_per_registration_median: Math.round(sorted[ROUNDS >> 1] * 100) / 100,
    bytes_allocated_per_registration: allocatedBytes(s),
    checksum: sink > 0,
  }));
}
