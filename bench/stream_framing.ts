/**
 * @module CPU cost of the TCP/TLS stream framer alone (`src/sip/framer.ts`): 2,000 REGISTER
 * requests with digest credentials (~480 bytes each) pushed through a `StreamFramer` in
 * reads of 10.5 messages each (every read ends inside a message, as under load), from one
 * read buffer reused for every read as the connection does. Each tree (`--root=DIR`,
 * repeatable; default this checkout) is measured in a fresh process of its own, trees
 * alternating for `--rounds=N` (3): one V8 per tree, as in the server. Prints the main
 * thread's CPU ns per framed message (/proc/thread-self/schedstat), median of 15 samples
 * after warm-up. Not part of the product.
 */
import { alternateTrees, CHILD, cpuNs } from "./support/tree_rounds.ts";

function request(i: number): string {
  return `REGISTER sip:example.test SIP/2.0\r\n` +
    `Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-${i}\r\n` +
    `From: <sip:bench@example.test>;tag=${i}\r\nTo: <sip:bench@example.test>\r\n` +
    `Call-ID: ${i}@x\r\nCSeq: 1 REGISTER\r\n` +
    `Contact: <sip:bench@127.0.0.1:5999;transport=tcp>\r\n` +
    `Authorization: Digest username="bench", realm="example.test", ` +
    `nonce="abcdefabcdefabcdefabcdef", uri="sip:example.test", ` +
    `response="0123456789abcdef0123456789abcdef"\r\n` +
    `Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
}

async function child(root: string): Promise<void> {
  const { StreamFramer } = await import(`${root}/src/sip/framer.ts`);
  const messages = 2000;
  let text = "";
  for (let i = 0; i < messages; i++) text += request(i);
  const stream = new TextEncoder().encode(text);
  const perRead = Math.floor(stream.length / messages * 10.5);
  const read = new Uint8Array(65536);
  const pass = (): number => {
    const framer = new StreamFramer();
    let framed = 0;
    for (let at = 0; at < stream.length; at += perRead) {
      const chunk = stream.subarray(at, Math.min(stream.length, at + perRead));
      read.set(chunk);
      framed += framer.push(read.subarray(0, chunk.length)).length;
    }
    if (framed !== messages) throw new Error(`framed ${framed} of ${messages}`);
    return framed;
  };
  for (let i = 0; i < 30; i++) pass();
  const samples: number[] = [];
  for (let s = 0; s < 15; s++) {
    const t0 = cpuNs();
    let framed = 0;
    for (let k = 0; k < 20; k++) framed += pass();
    samples.push((cpuNs() - t0) / framed);
  }
  samples.sort((a, b) => a - b);
  console.log(Math.round(samples[7]));
}

if (CHILD) await child(CHILD);
else await alternateTrees(import.meta.url, "ns/message");
