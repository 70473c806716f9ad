/**
 * @module CPU cost of sipws's SIP path without sockets: an in-process server (real transport
 * parsing, transactions, sanity, registrar, digest, location) whose transport `send` is
 * replaced by one that serializes and hands the bytes back, driven by REGISTER → 401 →
 * authenticated REGISTER → 200 cycles from a fixed set of UDP flows. Reports µs per
 * registration, wall and CPU time (client-side digest work included; it is small).
 * `--root=DIR` (repeatable) measures other checkouts: each gets its own server in this
 * process and they run in interleaved rounds (`--rounds=N`, default 1; with several roots
 * use 8 or more), so load from other work hits each alike; CPU is the process's
 * (`process.cpuUsage`), reported as the min and median of the rounds, and the main
 * thread's alone (`thread_cpu_*`: without V8's helper threads). `--n=N` registrations
 * per round (default 50 000) after `--warmup=N` (default 5 000) per root; `--abuse=off|trusted|counted` (default
 * trusted): the abuse guard disabled, enabled with the load's address trusted (bench
 * default), or enabled and counting every request against a rate limit too high to trip, to
 * price the per-message check. Also reports the heap allocated per registration (largest
 * growth of short rounds, client included); `--alloc-sites` prints where it is allocated
 * instead (V8's sampling heap profiler, first root only). `--shape=closed|open` (default
 * closed): 20 agents each keeping its Contact and Call-ID on one AOR (the closed-loop load:
 * each 200 lists 20 Contacts), or the open-loop load's (bench/scenarios/register_digest.xml)
 * one agent whose every registration has a new Call-ID and From tag and CSeq 1 then 2 (the
 * registrar replaces the one binding each time). `--pause=MS`: a timer of MS ms every 50
 * registrations (Deno fires even a 0 ms timer after about a millisecond: the thread sleeps
 * there), as a server not fully loaded turns its event loop and sleeps (docs/workers.md). Run
 * `deno run -A bench/core_path.ts`, or
 * `deno run -A bench/core_path.ts --root=/work/main --root=. --rounds=10 --n=5000`. Not part
 * of the product.
 */
import { arg, argAll } from "./support/args.ts";
import { startInProcessServer } from "./support/in_process_server.ts";
import {
  BENCH_ACCOUNT,
  BENCH_REGISTER_URI,
  benchDigestResponse,
  openAuthorization,
  openRegisterText,
} from "./support/register_texts.ts";
import { processCpuUs as cpuUs } from "./support/proc.ts";
import { printSites, startHeapSampling } from "./support/heap_sampling.ts";

const roots = argAll("root");
if (roots.length === 0) roots.push(new URL("..", import.meta.url).pathname);
const N = Number(arg("n") ?? 50_000);
const ROUNDS = Number(arg("rounds") ?? 1);
const WARMUP = Number(arg("warmup") ?? 5000);
const ABUSE = arg("abuse") ?? "trusted";
const OPEN = (arg("shape") ?? "closed") === "open";
const PAUSE = arg("pause") === undefined ? undefined : Number(arg("pause"));

const encoder = new TextEncoder();

const AGENTS = OPEN ? 1 : 20;
const uri = BENCH_REGISTER_URI;
/**
 * The main thread's own CPU time (µs, /proc/thread-self/schedstat): without V8's helper
 * threads (concurrent marking, compilers), whose share swings with the box's load.
 */
const threadUs = () =>
  Number(Deno.readTextFileSync("/proc/thread-self/schedstat").split(" ")[0]) / 1000;

interface Rig {
  root: string;
  register: (i: number) => void;
  stop: () => Promise<void>;
  cpu: number[];
  thread: number[];
  wall: number[];
}

async function rig(root: string): Promise<Rig> {
  let last = "";
  const { server, udpPort, stop } = await startInProcessServer(root, "sipws-core-", (config) => {
    if (!config.abuse) return;
    // 20 agents at 127.0.0.1 far above 50 requests/s: load, not an attack.
    if (ABUSE === "off") config.abuse.enabled = false;
    else if (ABUSE === "trusted") config.abuse.trusted = ["127.0.0.0/8"];
    else config.abuse.rateLimit = 1_000_000;
  }, (text) => last = text);
  await server.store.putAccount(BENCH_ACCOUNT);

  const flows = Array.from({ length: AGENTS }, (_, i) => ({
    id: `udp:127.0.0.1:5060>127.0.0.1:${40000 + i}`,
    transport: "udp",
    local: { host: "127.0.0.1", port: udpPort },
    remote: { host: "127.0.0.1", port: 40000 + i },
    reliable: false,
    secure: false,
  }));
  let cseq = 1;
  let branch = 0;
  let call = 0;
  const closedRequest = (i: number, auth?: string) =>
    encoder.encode(
      `REGISTER ${uri} SIP/2.0\r\n` +
        `Via: SIP/2.0/UDP 127.0.0.1:${40000 + i};branch=z9hG4bKcore.${branch++};rport\r\n` +
        `Max-Forwards: 70\r\nFrom: <sip:bench@example.test>;tag=f${i}\r\n` +
        `To: <sip:bench@example.test>\r\nCall-ID: core-${i}@bench\r\nCSeq: ${cseq++} REGISTER\r\n` +
        `Contact: <sip:ua${i}@127.0.0.1:${40000 + i}>\r\nExpires: 3600\r\n` +
        (auth ? `Authorization: ${auth}\r\n` : "") + `Content-Length: 0\r\n\r\n`,
    );
  // As sipp sends register_digest.xml (its Authorization after the Contact, no spaces).
  const openRequest = (_: number, auth?: string) =>
    encoder.encode(openRegisterText(uri, branch++, call, auth));
  const request = OPEN ? openRequest : closedRequest;
  const register = (i: number): void => {
    call++;
    server.transport.deliver(request(i), flows[i]);
    const nonce = /nonce="([^"]+)"/.exec(last)?.[1];
    if (!last.startsWith("SIP/2.0 401") || !nonce) throw new Error(`expected 401: ${last}`);
    const cnonce = `c${call}`;
    const auth = OPEN
      ? openAuthorization(nonce, cnonce)
      : `Digest username="bench", realm="example.test", nonce="${nonce}", uri="${uri}", ` +
        `response="${benchDigestResponse(nonce, cnonce)}", algorithm=MD5, qop=auth, ` +
        `nc=00000001, cnonce="${cnonce}"`;
    server.transport.deliver(request(i, auth), flows[i]);
    if (!last.startsWith("SIP/2.0 200")) throw new Error(`expected 200: ${last.slice(0, 60)}`);
  };
  return { root, register, stop, cpu: [], thread: [], wall: [] };
}

async function round(r: Rig): Promise<void> {
  const t0 = performance.now();
  const cpu0 = cpuUs();
  const thread0 = threadUs();
  for (let i = 0; i < N; i++) {
    r.register(i % AGENTS);
    // Let timers and microtasks run now and then, as between datagrams.
    if (i % (PAUSE === undefined ? 500 : 50) === 0) {
      await new Promise((resolve) => setTimeout(resolve, PAUSE ?? 0));
    }
  }
  // CPU time, not wall time: steadier on a machine shared with other work.
  r.cpu.push((cpuUs() - cpu0) / N);
  r.thread.push((threadUs() - thread0) / N);
  r.wall.push(((performance.now() - t0) * 1000) / N);
}

/**
 * Heap growth per registration over short rounds (the bench client's own garbage
 * included): a collection during a round can only lower its figure, so the largest round
 * is one that no collection interrupted.
 */
function allocatedBytes(r: Rig): number {
  let most = 0;
  for (let k = 0; k < 20; k++) {
    const before = Deno.memoryUsage().heapUsed;
    for (let i = 0; i < 100; i++) r.register(i % AGENTS);
    most = Math.max(most, (Deno.memoryUsage().heapUsed - before) / 100);
  }
  return Math.round(most);
}

/**
 * `--alloc-sites`: V8's sampling heap profiler over `n` registrations of the first root,
 * collected objects included, printed as bytes per registration by allocating function
 * (inlined callees count in their caller). `--alloc-sites=promoted`: only what outlived a
 * scavenge (here the loop's 500 registrations between yields keep their transactions in
 * pending promise reactions, so `bench/server_memory.ts --promoted-sites` is the truer one).
 */
async function allocationSites(r: Rig): Promise<void> {
  const stop = await startHeapSampling(arg("alloc-sites") === "promoted");
  for (let i = 0; i < N; i++) r.register(i % AGENTS);
  printSites(`${r.root} per registration`, await stop(), N);
}

const rigs: Rig[] = [];
try {
  for (const root of roots) rigs.push(await rig(root));
  for (const r of rigs) for (let i = 0; i < WARMUP; i++) r.register(i % AGENTS);
  if (Deno.args.some((a) => a === "--alloc-sites" || a.startsWith("--alloc-sites="))) {
    await allocationSites(rigs[0]);
    Deno.exit(0);
  }
  for (let k = 0; k < ROUNDS; k++) {
    // Alternate the order too, so neither tree always runs right after the other.
    const order = k % 2 === 0 ? rigs : [...rigs].reverse();
    for (const r of order) await round(r);
  }
  const tenth = (x: number) => Math.round(x * 10) / 10;
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  for (const r of rigs) {
    console.log(
      JSON.stringify({
        root: r.root,
        abuse: ABUSE,
        shape: OPEN ? "open" : "closed",
        registrations: N,
        rounds: ROUNDS,
        us_per_registration: tenth(median(r.wall)),
        cpu_us_per_registration: tenth(median(r.cpu)),
        cpu_us_per_registration_min: tenth(Math.min(...r.cpu)),
        cpu_rounds: r.cpu.map(tenth),
        thread_cpu_us_per_registration: tenth(median(r.thread)),
        thread_cpu_us_per_registration_min: tenth(Math.min(...r.thread)),
        thread_cpu_rounds: r.thread.map(tenth),
        heap_bytes_per_registration: allocatedBytes(r),
      }),
    );
  }
} finally {
  for (const r of rigs) await r.stop();
}
