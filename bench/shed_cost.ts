/**
 * @module What one shed UDP datagram costs sipws (issue 9, "no collapse past the limit"):
 * a real server on one worker with its overload level held at REFUSE, a sender thread
 * offering sipp-like first-leg REGISTERs over loopback; the figure is the server thread's
 * CPU per shed datagram (read, classification, 503 build, send), then the pieces alone:
 * `startsNewWork`, `refusal503`, one `sendto` of a 503 and a recvmmsg read per datagram.
 * Trees alternate (`--root=DIR`, repeatable; `--rounds=N`), one process each
 * (bench/support/tree_rounds.ts). Not part of the product.
 *
 *   deno run -A bench/shed_cost.ts --root=/work/main --root=/work/wt/shed --rounds=4
 */
import { alternateTrees, CHILD, cpuNs } from "./support/tree_rounds.ts";
import { startLocalServer } from "./support/in_process_server.ts";

const DATAGRAMS = 200_000;
const PIECES = 200_000;

function register(n: number): string {
  return `REGISTER sip:example.test SIP/2.0\r\n` +
    `Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-${n}-1-0;rport\r\n` +
    `Max-Forwards: 70\r\n` +
    `From: <sip:bench@example.test>;tag=1234R${n}\r\n` +
    `To: <sip:bench@example.test>\r\n` +
    `Call-ID: ${n}-1234@127.0.0.1\r\n` +
    `CSeq: 1 REGISTER\r\n` +
    `Contact: <sip:bench@127.0.0.1:5070;transport=UDP>\r\n` +
    `Expires: 3600\r\n` +
    `Content-Length: 0\r\n\r\n`;
}

/** The sender thread: `count` REGISTERs to `port`, about `perMs` a millisecond. */
const SENDER = `
self.onmessage = async (e) => {
  const { port, count, perMs, texts } = e.data;
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const datagrams = texts.map((t) => new TextEncoder().encode(t));
  const to = { transport: "udp", hostname: "127.0.0.1", port };
  const started = performance.now();
  for (let sent = 0; sent < count;) {
    const due = Math.min(count, Math.floor((performance.now() - started) * perMs) + 64);
    while (sent < due) await socket.send(datagrams[sent++ % datagrams.length], to);
    await new Promise((r) => setTimeout(r, 1));
  }
  socket.close();
  self.postMessage("done");
};`;

async function child(root: string): Promise<string> {
  const overload = await import(`${root}/src/transport/overload.ts`);
  // Held at REFUSE: every first-leg REGISTER is shed with a 503.
  Object.defineProperty(overload.ReceiveQueueWatch.prototype, "level", {
    get: () => overload.REFUSE,
  });
  const local = await startLocalServer(root, "shed-cost-", (config) => {
    config.abuse.trusted = ["127.0.0.0/8"];
  });
  const server = local.server;
  const texts = Array.from({ length: 1000 }, (_, i) => register(i));
  const shed = () => server.counters.total("sip_shed_total");
  const offer = (count: number) => {
    const worker = new Worker(
      URL.createObjectURL(new Blob([SENDER], { type: "text/javascript" })),
      { type: "module" },
    );
    const done = new Promise((r) => worker.onmessage = r);
    worker.postMessage({ port: local.udpPort, count, perMs: 30, texts });
    return done.then(async () => {
      await new Promise((r) => setTimeout(r, 200));
      worker.terminate();
    });
  };
  await offer(20_000); // warm-up
  const shed0 = shed();
  const cpu0 = cpuNs();
  await offer(DATAGRAMS);
  const perShed = (cpuNs() - cpu0) / 1000 / (shed() - shed0);
  const received = shed() - shed0;
  await local.stop();

  // The pieces, in process.
  const bytes = texts.map((t) => new TextEncoder().encode(t));
  // The least of 10 slices: the box is shared, the least disturbed slice is the cost.
  const time = (f: (i: number) => unknown) => {
    for (let i = 0; i < 20_000; i++) f(i);
    let best = Infinity;
    for (let slice = 0; slice < 10; slice++) {
      const t0 = cpuNs();
      for (let i = 0; i < PIECES / 10; i++) f(i);
      best = Math.min(best, (cpuNs() - t0) / 1000 / (PIECES / 10));
    }
    return best;
  };
  const classify = time((i) => overload.startsNewWork(bytes[i % 1000]));
  const build = time((i) => overload.refusal503(bytes[i % 1000]));
  const { UdpSyscallSender } = await import(`${root}/src/transport/udp_send.ts`);
  const { UdpBatchReceiver } = await import(`${root}/src/transport/udp_batch.ts`);
  const { udpDescriptor } = await import(`${root}/src/transport/socket_options.ts`);
  const a = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const b = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const aPort = (a.addr as Deno.NetAddr).port;
  const bPort = (b.addr as Deno.NetAddr).port;
  const sender = UdpSyscallSender.forSocket("127.0.0.1", aPort)!;
  const refusal = overload.refusal503(bytes[0])!;
  const reader = UdpBatchReceiver.forDescriptor(udpDescriptor(bPort, "127.0.0.1")!, 65535)!;
  // sendto a → b, b drained by recvmmsg every 16: both halves of the loopback trip.
  let sendNs = 0;
  let readNs = 0;
  for (let round = 0; round < PIECES / 16; round++) {
    const t0 = cpuNs();
    for (let i = 0; i < 16; i++) sender.send(refusal, "127.0.0.1", bPort);
    const t1 = cpuNs();
    reader.receive();
    readNs += cpuNs() - t1;
    sendNs += t1 - t0;
  }
  a.close();
  b.close();
  const us = (x: number) => x.toFixed(2);
  return `per shed ${us(perShed)} µs (${received} shed) | startsNewWork ${us(classify)} ` +
    `refusal503 ${us(build)} sendto ${us(sendNs / 1000 / PIECES)} ` +
    `recvmmsg/datagram ${us(readNs / 1000 / PIECES)}`;
}

if (CHILD) {
  console.log(await child(CHILD));
  Deno.exit(0);
} else {
  await alternateTrees(import.meta.url, "");
}
