/**
 * @module CPU cost of sipws's SIP path without sockets: an in-process server (real transport
 * parsing, transactions, sanity, registrar, digest, location) whose transport `send` is
 * replaced by one that serializes and hands the bytes back, driven by REGISTER → 401 →
 * authenticated REGISTER → 200 cycles from a fixed set of UDP flows. Reports µs per
 * registration, wall and CPU time (client-side digest work included; it is small). `--root=DIR` measures
 * another checkout (A/B); `--n=N` registrations (default 50 000) after a warm-up;
 * `--abuse=off|trusted|counted` (default trusted): the abuse guard disabled, enabled with the
 * load's address trusted (bench default), or enabled and counting every request against a
 * rate limit too high to trip, to price the per-message check. Run
 * `deno run -A bench/core_path.ts`. Not part of the product.
 */
import { createHash } from "node:crypto";
import { processTicks } from "./support/proc.ts";
import { arg } from "./support/args.ts";

const root = arg("root") ?? new URL("..", import.meta.url).pathname;
const N = Number(arg("n") ?? 50_000);
const { defaultConfig } = await import(`${root}/src/config/config.ts`);
const { startServer } = await import(`${root}/src/server.ts`);
const { freePorts } = await import(`${root}/tests/support/ports.ts`);

const ACCOUNT = { user: "bench", domain: "example.test", password: "bench-secret-1" };
const md5 = (s: string) => createHash("md5").update(s).digest("hex");
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const dir = await Deno.makeTempDir({ prefix: "sipws-core-" });
const config = defaultConfig();
config.interface = "127.0.0.1";
config.foreground = true;
config.storePath = `${dir}/sipws.db`;
config.udpPort = freePorts(1)[0];
// One thread: this prices the single-thread path, and its transport `send` is replaced below.
config.workers = 1;
const ABUSE = arg("abuse") ?? "trusted";
if (config.abuse) {
  // 20 agents at 127.0.0.1 far above 50 requests/s: load, not an attack.
  if (ABUSE === "off") config.abuse.enabled = false;
  else if (ABUSE === "trusted") config.abuse.trusted = ["127.0.0.0/8"];
  else config.abuse.rateLimit = 1_000_000;
}
const server = await startServer(config);
await server.store.putAccount(ACCOUNT);

let last = "";
// deno-lint-ignore no-explicit-any
(server.transport as any).send = (message: { toBytes(): Uint8Array }, target: any) => {
  last = decoder.decode(message.toBytes());
  return Promise.resolve(target.flow);
};

const AGENTS = 20;
const flows = Array.from({ length: AGENTS }, (_, i) => ({
  id: `udp:127.0.0.1:5060>127.0.0.1:${40000 + i}`,
  transport: "udp",
  local: { host: "127.0.0.1", port: config.udpPort },
  remote: { host: "127.0.0.1", port: 40000 + i },
  reliable: false,
  secure: false,
}));
const uri = `sip:${ACCOUNT.domain}`;
const ha1 = md5(`${ACCOUNT.user}:${ACCOUNT.domain}:${ACCOUNT.password}`);
const ha2 = md5(`REGISTER:${uri}`);
let cseq = 1;
let branch = 0;
const request = (i: number, auth?: string) =>
  encoder.encode(
    `REGISTER ${uri} SIP/2.0\r\n` +
      `Via: SIP/2.0/UDP 127.0.0.1:${40000 + i};branch=z9hG4bKcore.${branch++};rport\r\n` +
      `Max-Forwards: 70\r\nFrom: <sip:bench@example.test>;tag=f${i}\r\n` +
      `To: <sip:bench@example.test>\r\nCall-ID: core-${i}@bench\r\nCSeq: ${cseq++} REGISTER\r\n` +
      `Contact: <sip:ua${i}@127.0.0.1:${40000 + i}>\r\nExpires: 3600\r\n` +
      (auth ? `Authorization: ${auth}\r\n` : "") + `Content-Length: 0\r\n\r\n`,
  );

function register(i: number): void {
  server.transport.deliver(request(i), flows[i]);
  const nonce = /nonce="([^"]+)"/.exec(last)?.[1];
  if (!last.startsWith("SIP/2.0 401") || !nonce) throw new Error(`expected 401: ${last}`);
  const cnonce = `c${cseq}`;
  const response = md5(`${ha1}:${nonce}:00000001:${cnonce}:auth:${ha2}`);
  const auth = `Digest username="bench", realm="example.test", nonce="${nonce}", uri="${uri}", ` +
    `response="${response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="${cnonce}"`;
  server.transport.deliver(request(i, auth), flows[i]);
  if (!last.startsWith("SIP/2.0 200")) throw new Error(`expected 200: ${last.slice(0, 60)}`);
}

try {
  for (let i = 0; i < 5000; i++) register(i % AGENTS);
  const t0 = performance.now();
  const ticks0 = processTicks(Deno.pid);
  for (let i = 0; i < N; i++) {
    register(i % AGENTS);
    // Let timers and microtasks run now and then, as between datagrams.
    if (i % 500 === 0) await new Promise((r) => setTimeout(r, 0));
  }
  const us = ((performance.now() - t0) * 1000) / N;
  // CPU time, not wall time: steadier on a machine shared with other work.
  const cpuUs = ((processTicks(Deno.pid) - ticks0) * 10_000) / N;
  console.log(
    JSON.stringify({
      root,
      abuse: config.abuse ? ABUSE : "absent",
      registrations: N,
      us_per_registration: Math.round(us * 10) / 10,
      cpu_us_per_registration: Math.round(cpuUs * 10) / 10,
    }),
  );
} finally {
  await server.stop();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
