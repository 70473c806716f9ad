/**
 * @module Late REGISTER retransmissions at a high registration rate, in process (no sockets):
 * the open-loop load's registrations (bench/scenarios/register_digest.xml: a new Call-ID
 * each, REGISTER → 401 → REGISTER with digest → 200), and after each one the authenticated
 * REGISTER of the registration `--lag` earlier (default 15,000: 1 s at 15,000/s, a client's
 * second retransmission at 1.5 s, or its first at 0.5 s at 30,000/s) delivered again, byte
 * for byte from the same flow: a retransmission whose earlier answers were lost. By then the
 * completed-response ring (8 MiB, ~9,800 of these exchanges) has written over that
 * transaction, so the core answers it. Prints, per
 * `--root`, how the late copies were answered (200: the registration stands; 401: refused as
 * a nonce-count replay, which failed the registration at the client) and the CPU µs per
 * registration with its retransmission. `--n=N` registrations per round (default 30,000),
 * `--rounds=N` (default 3, roots interleaved). Run
 * `deno run -A bench/register_repeat.ts --root=/work/main --root=.`. Not part of the product.
 */
import { arg, argAll } from "./support/args.ts";
import { startInProcessServer } from "./support/in_process_server.ts";
import {
  BENCH_ACCOUNT,
  BENCH_REGISTER_URI,
  openAuthorization,
  openRegisterText,
} from "./support/register_texts.ts";
import { processCpuUs as cpuUs } from "./support/proc.ts";

const roots = argAll("root");
if (roots.length === 0) roots.push(new URL("..", import.meta.url).pathname);
const N = Number(arg("n") ?? 30_000);
const LAG = Number(arg("lag") ?? 15_000);
const ROUNDS = Number(arg("rounds") ?? 3);

const encoder = new TextEncoder();
const uri = BENCH_REGISTER_URI;

async function rig(root: string) {
  let last = "";
  const { server, udpPort, stop } = await startInProcessServer(root, "sipws-repeat-", (config) => {
    if (config.abuse) config.abuse.trusted = ["127.0.0.0/8"];
  }, (text) => last = text);
  await server.store.putAccount(BENCH_ACCOUNT);
  const flow = {
    id: `udp:127.0.0.1:5060>127.0.0.1:40000`,
    transport: "udp",
    local: { host: "127.0.0.1", port: udpPort },
    remote: { host: "127.0.0.1", port: 40000 },
    reliable: false,
    secure: false,
  };
  let branch = 0;
  let call = 0;
  /** Registers once; returns the authenticated REGISTER's bytes. */
  const register = (): Uint8Array => {
    call++;
    server.transport.deliver(encoder.encode(openRegisterText(uri, branch++, call)), flow);
    const nonce = /nonce="([^"]+)"/.exec(last)?.[1];
    if (!last.startsWith("SIP/2.0 401") || !nonce) throw new Error(`expected 401: ${last}`);
    const cnonce = `c${call}`;
    const auth = openAuthorization(nonce, cnonce);
    const bytes = encoder.encode(openRegisterText(uri, branch++, call, auth));
    server.transport.deliver(bytes, flow);
    if (!last.startsWith("SIP/2.0 200")) throw new Error(`expected 200: ${last.slice(0, 60)}`);
    return bytes;
  };
  /** The status a late copy of `bytes` is answered with. */
  const again = (bytes: Uint8Array): number => {
    server.transport.deliver(bytes, flow);
    return Number(last.slice(8, 11));
  };
  return { root, register, again, stop, statuses: new Map<number, number>(), cpu: [] as number[] };
}

const rigs = [];
try {
  for (const root of roots) rigs.push(await rig(root));
  for (let k = 0; k < ROUNDS; k++) {
    for (const r of k % 2 === 0 ? rigs : [...rigs].reverse()) {
      const sent: Uint8Array[] = [];
      const cpu0 = cpuUs();
      for (let i = 0; i < N; i++) {
        sent.push(r.register());
        if (i >= LAG) {
          const status = r.again(sent[i - LAG]);
          r.statuses.set(status, (r.statuses.get(status) ?? 0) + 1);
        }
        if (i % 500 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
      }
      r.cpu.push((cpuUs() - cpu0) / N);
    }
  }
  for (const r of rigs) {
    const cpu = [...r.cpu].sort((a, b) => a - b);
    console.log(JSON.stringify({
      root: r.root,
      registrations: N * ROUNDS,
      lag: LAG,
      late_copies_answered: Object.fromEntries(r.statuses),
      cpu_us_per_registration_with_its_copy: Math.round(cpu[cpu.length >> 1] * 10) / 10,
      cpu_rounds: r.cpu.map((x) => Math.round(x * 10) / 10),
    }));
  }
} finally {
  for (const r of rigs) await r.stop();
}
