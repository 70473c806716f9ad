/**
 * @module REGISTER-with-digest load generator for benchmarks: many simulated user agents,
 * each looping REGISTER → 401 → REGISTER with MD5 `qop=auth` credentials → 200 on its own
 * Call-ID (a refresh of its own contact), over UDP or TCP to any registrar (sipws or
 * Kamailio). At the end each agent removes its binding (Expires: 0, untimed), so runs one
 * after the other meet the same binding table. Bounded by time and count; measures
 * per-transaction latency (request sent → final response read) and counts every unexpected
 * status or timeout as a failure. It parses only what it needs (status, Call-ID, CSeq, the
 * challenge) to stay cheap next to the server on the same machine. Not part of the product; no imports from src/.
 */
import { createHash } from "node:crypto";
import { readHead, type ResponseHead } from "./support/response_head.ts";

export interface RegisterLoadOptions {
  host: string;
  port: number;
  transport: "udp" | "tcp";
  user: string;
  domain: string;
  password: string;
  /** Simulated user agents, each with one REGISTER transaction in flight. */
  concurrency: number;
  /** Time bound for the measured run. */
  durationMs: number;
  /** Count bound: stop after this many completed registrations. */
  maxRegistrations?: number;
  /** UDP sockets / TCP connections the agents are spread over. Default 2. */
  connections?: number;
  /** A transaction without a final response after this is a failure. Default 4000 ms. */
  timeoutMs?: number;
}

export interface RegisterLoadResult {
  transport: "udp" | "tcp";
  concurrency: number;
  elapsedMs: number;
  /** Completed challenge + authenticated REGISTER → 200 cycles. */
  registrations: number;
  /** Final responses received (401s and 200s). */
  transactions: number;
  failures: number;
  /** UDP requests sent again for lack of an answer within T1, 2·T1, ... */
  retransmissions: number;
  /** The first few failures, for the report. */
  failureSamples: string[];
  registrationsPerSec: number;
  transactionsPerSec: number;
  /** Latency of one REGISTER transaction (either leg), milliseconds. */
  p50Ms: number;
  p99Ms: number;
}

interface Pending {
  resolve: (response: string | undefined) => void;
  deadline: number;
  /** UDP only: when to retransmit next (RFC 3261 §17.1.2.2 Timer E), and the interval. */
  retransmitAt: number;
  interval: number;
  resend: () => void;
}

/** What an agent is handed for a 200 (it checks the status line only). */
const OK = "SIP/2.0 200 OK";
const md5 = (s: string) => createHash("md5").update(s).digest("hex");
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const WWW_AUTH = /\r\nwww-authenticate[ \t]*:[ \t]*([^\r\n]+)/gi;

function param(challenge: string, name: string): string | undefined {
  const m = new RegExp(`[\\s,]${name}\\s*=\\s*(?:"([^"]*)"|([^\\s,]+))`, "i").exec(
    " " + challenge.replace(/^\s*Digest\s+/i, ""),
  );
  return m ? (m[1] ?? m[2]) : undefined;
}

/** The first MD5 (or algorithm-less) Digest challenge: what a phone answers. */
function md5Challenge(text: string): string | undefined {
  for (const m of text.matchAll(WWW_AUTH)) {
    const algorithm = param(m[1], "algorithm");
    if (!algorithm || algorithm.toUpperCase() === "MD5") return m[1];
  }
  return undefined;
}

/** One UDP socket or TCP connection shared by several agents. */
interface Channel {
  localPort: number;
  send(text: string): void;
  close(): void;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const at = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return Math.round(sorted[at] * 1000) / 1000;
}

export async function runRegisterLoad(o: RegisterLoadOptions): Promise<RegisterLoadResult> {
  const timeoutMs = o.timeoutMs ?? 4000;
  const pending = new Map<string, Pending>();
  let latencies = new Float64Array(1 << 16);
  let latencyCount = 0;
  let registrations = 0;
  let transactions = 0;
  let failures = 0;
  let retransmissions = 0;
  const udp = o.transport === "udp";
  const failureSamples: string[] = [];
  const fail = (what: string) => {
    failures++;
    if (failureSamples.length < 5) failureSamples.push(what);
  };

  // `bytes` is only read here (the callers reuse their buffers); a 200 is all the agent looks
  // at the status of, so only other answers are decoded for it.
  const onResponse = (bytes: Uint8Array, head: ResponseHead) => {
    const { callId, cseq, status } = head;
    if (!callId || !cseq || status === 0) return;
    if (status < 200) return; // provisional: keep waiting
    const key = `${callId} ${cseq}`;
    const p = pending.get(key);
    if (!p) return; // late answer after a timeout
    pending.delete(key);
    p.resolve(status === 200 ? OK : decoder.decode(bytes));
  };

  const channels: Channel[] = [];
  const n = Math.max(1, o.connections ?? 2);
  for (let i = 0; i < n; i++) {
    channels.push(o.transport === "udp" ? openUdp(o, onResponse) : await openTcp(o, onResponse));
  }

  // One sweeper for timeouts instead of a timer per transaction.
  const sweeper = setInterval(() => {
    const now = performance.now();
    for (const [key, p] of pending) {
      if (p.deadline < now) {
        pending.delete(key);
        p.resolve(undefined);
      } else if (udp && p.retransmitAt < now) {
        // A phone retransmits over UDP (T1 = 500 ms, doubling): a lost datagram is late,
        // not a failure, unless the whole transaction times out.
        retransmissions++;
        p.interval = Math.min(p.interval * 2, 4000);
        p.retransmitAt = now + p.interval;
        p.resend();
      }
    }
  }, 50);

  const ha1ByRealm = new Map<string, string>();
  const uri = `sip:${o.domain}`;
  const ha2 = md5(`REGISTER:${uri}`);
  const run = crypto.randomUUID().slice(0, 8);
  const viaTransport = o.transport.toUpperCase();
  let stop = false;
  const started = performance.now();
  const endAt = started + o.durationMs;

  const transaction = (channel: Channel, callId: string, cseq: number, text: string) =>
    new Promise<string | undefined>((resolve) => {
      const now = performance.now();
      pending.set(`${callId} ${cseq}`, {
        resolve,
        deadline: now + timeoutMs,
        retransmitAt: now + 500,
        interval: 500,
        resend: () => channel.send(text),
      });
      channel.send(text);
    });

  const agent = async (index: number) => {
    const channel = channels[index % channels.length];
    const callId = `${run}-${index}@bench`;
    const fromTag = `${run}${index}`;
    const contact = `<sip:ua${index}@127.0.0.1:${channel.localPort}` +
      (o.transport === "tcp" ? ";transport=tcp>" : ">");
    let cseq = 1;
    let branch = 0;
    const request = (seq: number, expires: number, authorization?: string) =>
      `REGISTER ${uri} SIP/2.0\r\n` +
      `Via: SIP/2.0/${viaTransport} 127.0.0.1:${channel.localPort};branch=z9hG4bK${run}.${index}.${branch++};rport\r\n` +
      `Max-Forwards: 70\r\n` +
      `From: <sip:${o.user}@${o.domain}>;tag=${fromTag}\r\n` +
      `To: <sip:${o.user}@${o.domain}>\r\n` +
      `Call-ID: ${callId}\r\n` +
      `CSeq: ${seq} REGISTER\r\n` +
      `Contact: ${contact}\r\n` +
      `Expires: ${expires}\r\n` +
      (authorization ? `Authorization: ${authorization}\r\n` : "") +
      `Content-Length: 0\r\n\r\n`;
    const timed = async (seq: number, text: string) => {
      const t0 = performance.now();
      const response = await transaction(channel, callId, seq, text);
      if (response !== undefined) {
        if (latencyCount === latencies.length) {
          const bigger = new Float64Array(latencies.length * 2);
          bigger.set(latencies);
          latencies = bigger;
        }
        latencies[latencyCount++] = performance.now() - t0;
        transactions++;
      }
      return response;
    };
    const untimed = (seq: number, text: string) => transaction(channel, callId, seq, text);
    /** REGISTER → 401 → REGISTER with credentials → 200: what went wrong, or undefined. */
    const cycle = async (
      send: (seq: number, text: string) => Promise<string | undefined>,
      expires: number,
    ): Promise<string | undefined> => {
      const first = cseq++;
      const challenge = await send(first, request(first, expires));
      if (challenge === undefined) return `timeout waiting for 401 (cseq ${first})`;
      if (!challenge.startsWith("SIP/2.0 401")) {
        return `expected 401, got ${challenge.slice(0, 40)}`;
      }
      const www = md5Challenge(challenge);
      const realm = www && param(www, "realm");
      const nonce = www && param(www, "nonce");
      if (!www || realm === undefined || nonce === undefined) return "401 without an MD5 challenge";
      let ha1 = ha1ByRealm.get(realm);
      if (!ha1) {
        ha1 = md5(`${o.user}:${realm}:${o.password}`);
        ha1ByRealm.set(realm, ha1);
      }
      const opaque = param(www, "opaque");
      const qop = param(www, "qop");
      const cnonce = `${run}${index}x${cseq}`;
      const nc = "00000001";
      const response = qop
        ? md5(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${ha2}`)
        : md5(`${ha1}:${nonce}:${ha2}`);
      const authorization = `Digest username="${o.user}", realm="${realm}", nonce="${nonce}", ` +
        `uri="${uri}", response="${response}", algorithm=MD5` +
        (opaque !== undefined ? `, opaque="${opaque}"` : "") +
        (qop ? `, qop=auth, nc=${nc}, cnonce="${cnonce}"` : "");
      const second = cseq++;
      const ok = await send(second, request(second, expires, authorization));
      if (ok === undefined) return `timeout waiting for 200 (cseq ${second})`;
      if (!ok.startsWith("SIP/2.0 200")) return `expected 200, got ${ok.slice(0, 40)}`;
      return undefined;
    };
    while (!stop) {
      const failure = await cycle(timed, 3600);
      if (failure) fail(failure);
      else registrations++;
      if (performance.now() >= endAt) stop = true;
      if (o.maxRegistrations !== undefined && registrations >= o.maxRegistrations) stop = true;
    }
    // Then, like a phone switched off, it removes its binding (untimed, after the measured
    // run): the next run's agents (new ports, so new Contacts) find the AOR as this one did,
    // not 20 bindings fuller, which every 200 would list.
    return () => cycle(untimed, 0);
  };

  let elapsedMs = NaN;
  try {
    const leave = await Promise.all(Array.from({ length: o.concurrency }, (_, i) => agent(i)));
    elapsedMs = performance.now() - started;
    await Promise.all(leave.map((unregister) => unregister()));
  } finally {
    clearInterval(sweeper);
    for (const c of channels) c.close();
  }
  const sorted = latencies.slice(0, latencyCount).sort();
  return {
    transport: o.transport,
    concurrency: o.concurrency,
    elapsedMs: Math.round(elapsedMs),
    registrations,
    transactions,
    failures,
    retransmissions,
    failureSamples,
    registrationsPerSec: Math.round(registrations / (elapsedMs / 1000)),
    transactionsPerSec: Math.round(transactions / (elapsedMs / 1000)),
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
  };
}

type OnResponse = (bytes: Uint8Array, head: ResponseHead) => void;

function openUdp(o: RegisterLoadOptions, onResponse: OnResponse): Channel {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const target = { transport: "udp" as const, hostname: o.host, port: o.port };
  (async () => {
    // A reused buffer: without one Deno allocates and zeroes 64 KB per datagram, which
    // made the generator, not the server, the bottleneck.
    const buffer = new Uint8Array(65536);
    try {
      for (;;) {
        const [bytes] = await socket.receive(buffer);
        const head = readHead(bytes, 0, bytes.length);
        if (head) onResponse(bytes, head);
      }
    } catch { /* closed */ }
  })();
  return {
    localPort: (socket.addr as Deno.NetAddr).port,
    send: (text) => {
      socket.send(encoder.encode(text), target).catch(() => {});
    },
    close: () => {
      try {
        socket.close();
      } catch { /* closed */ }
    },
  };
}

async function openTcp(
  o: RegisterLoadOptions,
  onResponse: OnResponse,
): Promise<Channel> {
  const conn = await Deno.connect({ hostname: o.host, port: o.port });
  conn.setNoDelay(true);
  let writing = Promise.resolve();
  let queued: string[] = [];
  (async () => {
    // Reads land after what is left of a message cut by the previous read.
    let buf = new Uint8Array(65536);
    let kept = 0;
    try {
      for (;;) {
        if (kept === buf.length) {
          const bigger = new Uint8Array(buf.length * 2);
          bigger.set(buf);
          buf = bigger;
        }
        const n = await conn.read(buf.subarray(kept));
        if (n === null) break;
        const end = kept + n;
        // Frame by Content-Length (RFC 3261 §18.3).
        let at = 0;
        while (at < end) {
          if (buf[at] === 13 || buf[at] === 10) { // a keep-alive's CRLF
            at++;
            continue;
          }
          const head = readHead(buf, at, end);
          if (!head) break;
          const total = head.headLength + head.contentLength;
          if (at + total > end) break;
          onResponse(buf.subarray(at, at + total), head);
          at += total;
        }
        buf.copyWithin(0, at, end);
        kept = end - at;
      }
    } catch { /* closed */ }
  })();
  // Coalesce sends issued in the same tick into one write.
  const flush = () => {
    const text = queued.join("");
    queued = [];
    const bytes = encoder.encode(text);
    writing = writing.then(async () => {
      let off = 0;
      while (off < bytes.length) off += await conn.write(bytes.subarray(off));
    }).catch(() => {});
  };
  return {
    localPort: (conn.localAddr as Deno.NetAddr).port,
    send: (text) => {
      if (queued.push(text) === 1) queueMicrotask(flush);
    },
    close: () => {
      try {
        conn.close();
      } catch { /* closed */ }
    },
  };
}
