/**
 * @module In-process cost of `TransportLayer.send` on a stream flow whose connection this
 * process holds (every response over TCP, TLS, WS, WSS): serialization plus the layer's
 * routing, with a connection whose `send` settles at once, so no socket is measured. Per
 * tree (`--root=DIR`, repeatable; default this checkout), `--rounds=N` (5) rounds of
 * `--sends=N` (200000) sends; prints the main thread's CPU time (/proc/thread-self/schedstat)
 * per send of each round after the first. Not part of the product.
 */
import { arg, argAll } from "./support/args.ts";
import { streamLayer } from "./support/stream_layer.ts";

const ROOTS = argAll("root").length ? argAll("root") : [new URL("../", import.meta.url).pathname];
const ROUNDS = Number(arg("rounds") ?? 5);
const SENDS = Number(arg("sends") ?? 200_000);

/** CPU time of this thread, ms. */
function cpuMs(): number {
  return Number(Deno.readTextFileSync("/proc/thread-self/schedstat").split(" ")[0]) / 1e6;
}

async function measure(root: string): Promise<number[]> {
  const { parseMessage } = await import(`${root}/src/sip/parse.ts`);
  const done = Promise.resolve();
  const { layer, flow } = await streamLayer(root, () => done);
  const response = parseMessage(
    new TextEncoder().encode(
      "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1:40000;branch=z9hG4bKx;received=127.0.0.1\r\n" +
        "From: <sip:bob@example.test>;tag=1\r\nTo: <sip:bob@example.test>;tag=2\r\n" +
        "Call-ID: c1\r\nCSeq: 2 REGISTER\r\nContact: <sip:bob@127.0.0.1:40000;transport=tcp>;expires=300\r\n" +
        "Content-Length: 0\r\n\r\n",
    ),
  );
  const target = { flow };
  const out: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const t = cpuMs();
    for (let i = 0; i < SENDS; i++) {
      layer.send(response, target).catch(() => {});
      if (i % 1000 === 999) await done; // let the settled sends go
    }
    await new Promise((r) => setTimeout(r, 0));
    if (round > 0) out.push((cpuMs() - t) * 1000 / SENDS);
  }
  return out;
}

for (const root of ROOTS) {
  const us = await measure(root);
  console.log(`${root.padEnd(28)} ${us.map((u) => u.toFixed(3)).join(" / ")} µs CPU/send`);
}
