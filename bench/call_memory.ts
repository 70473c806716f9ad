/**
 * @module Memory held per finished call by an in-process sipws (default timers: T1 = 500 ms,
 * so the INVITE transactions' Timer L/M keep them 32 s after the 200): bob registers with
 * digest, then N calls from a foreign-domain caller run INVITE → 180 → 200 → ACK → BYE →
 * 200 through the proxy over UDP, the transport's `send` replaced by one that hands the
 * serialized bytes back (no sockets). After a full GC it prints heap growth per call and
 * the live server/client transactions and dialogs. Run with
 * `deno run -A --v8-flags=--expose-gc bench/call_memory.ts [--n=N] [--root=DIR]`
 * (`--root` measures another checkout, A/B). Not part of the product.
 */
import { createHash } from "node:crypto";
import { arg } from "./support/args.ts";
import { gc } from "./support/fake_sender.ts";

const root = arg("root") ?? new URL("..", import.meta.url).pathname;
const N = Number(arg("n") ?? 5000);
const { defaultConfig } = await import(`${root}/src/config/config.ts`);
const { startServer } = await import(`${root}/src/server.ts`);
const { freePorts } = await import(`${root}/tests/support/ports.ts`);

const ACCOUNT = { user: "bob", domain: "example.test", password: "bench-secret-1" };
const md5 = (s: string) => createHash("md5").update(s).digest("hex");
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const SDP = "v=0\r\n" + "a=candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host\r\n".repeat(24);

const dir = await Deno.makeTempDir({ prefix: "sipws-callmem-" });
const config = defaultConfig();
config.interface = "127.0.0.1";
config.foreground = true;
config.storePath = `${dir}/sipws.db`;
config.udpPort = freePorts(1)[0];
if (config.abuse) config.abuse.trusted = ["127.0.0.0/8"];
const server = await startServer(config);
await server.store.putAccount(ACCOUNT);

const sent: string[] = [];
// deno-lint-ignore no-explicit-any
(server.transport as any).send = (message: { toBytes(): Uint8Array }, target: any) => {
  sent.push(decoder.decode(message.toBytes()));
  return Promise.resolve(target.flow);
};
const flow = (port: number) => ({
  id: `udp:127.0.0.1:${config.udpPort}>127.0.0.1:${port}`,
  transport: "udp",
  local: { host: "127.0.0.1", port: config.udpPort },
  remote: { host: "127.0.0.1", port },
  reliable: false,
  secure: false,
});
const CALLER = flow(41000);
const BOB = flow(42000);
const deliver = (text: string, f: typeof CALLER) =>
  server.transport.deliver(encoder.encode(text), f);
/** The one message sent since the last call that starts with `start`; fails otherwise. */
function take(start: string): string {
  const m = sent.find((s) => s.startsWith(start));
  sent.length = 0;
  if (!m) throw new Error(`expected ${start}`);
  return m;
}
const headers = (msg: string, name: string) =>
  msg.split("\r\n").filter((l) => l.toLowerCase().startsWith(name.toLowerCase() + ":"));

function registerBob(): void {
  const uri = "sip:example.test";
  const req = (auth = "") =>
    `REGISTER ${uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:42000;branch=z9hG4bKreg${auth.length};rport\r\n` +
    `Max-Forwards: 70\r\nFrom: <sip:bob@example.test>;tag=r\r\nTo: <sip:bob@example.test>\r\n` +
    `Call-ID: reg@bench\r\nCSeq: ${
      auth ? 2 : 1
    } REGISTER\r\nContact: <sip:bob@127.0.0.1:42000>\r\n` +
    `Expires: 3600\r\n${auth}Content-Length: 0\r\n\r\n`;
  deliver(req(), BOB);
  const nonce = /nonce="([^"]+)"/.exec(take("SIP/2.0 401"))![1];
  const ha1 = md5(`bob:example.test:${ACCOUNT.password}`);
  const response = md5(`${ha1}:${nonce}:00000001:c:auth:${md5(`REGISTER:${uri}`)}`);
  deliver(
    req(
      `Authorization: Digest username="bob", realm="example.test", nonce="${nonce}", uri="${uri}", ` +
        `response="${response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="c"\r\n`,
    ),
    BOB,
  );
  take("SIP/2.0 200");
}

/** Bob's answer to a request the proxy relayed: its Via, From, To (tagged), Call-ID, CSeq. */
function answer(req: string, status: string, extra = "", body = ""): string {
  const keep = ["Via", "Record-Route", "From", "Call-ID", "CSeq"].flatMap((h) => headers(req, h));
  const to = headers(req, "To")[0];
  return `SIP/2.0 ${status}\r\n${keep.join("\r\n")}\r\n${
    to.includes("tag=") ? to : `${to};tag=b`
  }\r\n` +
    `${extra}Content-Length: ${body.length}\r\n\r\n${body}`;
}

function call(i: number): void {
  const callId = `call-${i}@bench`;
  const dialog = (cseq: string, ruri: string, branch: string, route = "") =>
    `Via: SIP/2.0/UDP 127.0.0.1:41000;branch=z9hG4bK${branch}${i};rport\r\nMax-Forwards: 70\r\n` +
    `From: <sip:alice@caller.test>;tag=a${i}\r\nTo: <sip:bob@example.test>${
      ruri ? ";tag=b" : ""
    }\r\n` +
    `Call-ID: ${callId}\r\nCSeq: ${cseq}\r\n${route}`;
  deliver(
    `INVITE sip:bob@example.test SIP/2.0\r\n${dialog("1 INVITE", "", "inv")}` +
      `Contact: <sip:alice@127.0.0.1:41000>\r\nContent-Type: application/sdp\r\n` +
      `Content-Length: ${SDP.length}\r\n\r\n${SDP}`,
    CALLER,
  );
  const inv = take("INVITE ");
  deliver(answer(inv, "180 Ringing"), BOB);
  take("SIP/2.0 180");
  deliver(
    answer(
      inv,
      "200 OK",
      "Contact: <sip:bob@127.0.0.1:42000>\r\nContent-Type: application/sdp\r\n",
      SDP,
    ),
    BOB,
  );
  const ok = take("SIP/2.0 200");
  const route = headers(ok, "Record-Route").map((h) => h.replace(/^Record-Route/i, "Route")).join(
    "\r\n",
  );
  const rr = route ? `${route}\r\n` : "";
  const bob = "sip:bob@127.0.0.1:42000";
  deliver(
    `ACK ${bob} SIP/2.0\r\n${dialog("1 ACK", bob, "ack", rr)}Content-Length: 0\r\n\r\n`,
    CALLER,
  );
  take("ACK ");
  deliver(
    `BYE ${bob} SIP/2.0\r\n${dialog("2 BYE", bob, "bye", rr)}Content-Length: 0\r\n\r\n`,
    CALLER,
  );
  const bye = take("BYE ");
  deliver(answer(bye, "200 OK"), BOB);
  take("SIP/2.0 200");
}

const mb = (b: number) => Math.round(b / 1024 / 102.4) / 10;
try {
  registerBob();
  for (let i = 0; i < 200; i++) call(-1 - i); // warm-up (JIT, tables)
  await new Promise((r) => setTimeout(r, 50));
  gc();
  const m0 = Deno.memoryUsage();
  for (let i = 0; i < N; i++) {
    call(i);
    if (i % 500 === 0) await new Promise((r) => setTimeout(r, 0));
  }
  for (let i = 0; i < 2; i++) {
    await new Promise((r) => setTimeout(r, 100));
    gc();
  }
  const m1 = Deno.memoryUsage();
  const tx = server.transactions.stats();
  console.log(JSON.stringify({
    root,
    calls: N,
    live_server_tx: tx.server,
    live_client_tx: tx.client,
    completed_ring: tx.completed,
    heap_delta_mb: mb(m1.heapUsed - m0.heapUsed),
    heap_bytes_per_call: Math.round((m1.heapUsed - m0.heapUsed) / N),
    external_bytes_per_call: Math.round((m1.external - m0.external) / N),
  }));
} finally {
  await server.stop();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
