/**
 * @module CPU cost of a TCP round trip through sipws's stream path alone, trees side by side in
 * one process: each tree (`--root=DIR`, repeatable; default this checkout) runs its own
 * `TcpTransport` on loopback with a sink that answers every message from a shared slab (as
 * the SIP path does), and a raw client per tree writes `--k=N` (1) REGISTER requests in one
 * write, then reads the N answers. Blocks of `--rounds=N` (2000) round trips alternate between
 * the trees for `--blocks=N` (16), the order reversed every other block. Prints the main
 * thread's CPU ns per message (/proc/thread-self/schedstat; the client's share is included and
 * the same for every tree) as the median per tree, and with two trees the median of the paired
 * differences. K=1 prices a read, a write and their event-loop turns per message; a larger K
 * the per-message work. `--transport=ws` runs a plain WebSocket connection instead (a
 * `WsConnection` on the accepted socket, no handshake; the client masks its frames). Not part
 * of the product.
 */
import { arg, argAll } from "./support/args.ts";

const ROOTS = argAll("root").length ? argAll("root") : [new URL("../", import.meta.url).pathname];
const K = Number(arg("k") ?? 1);
const ROUNDS = Number(arg("rounds") ?? 2000);
const BLOCKS = Number(arg("blocks") ?? 16);
const WS = arg("transport") === "ws";

const encoder = new TextEncoder();
const REQUEST = encoder.encode(
  "REGISTER sip:example.test SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-1\r\n" +
    "From: <sip:bench@example.test>;tag=1\r\nTo: <sip:bench@example.test>\r\nCall-ID: 1@x\r\n" +
    "CSeq: 1 REGISTER\r\nContact: <sip:bench@127.0.0.1:5999;transport=tcp>\r\n" +
    'Authorization: Digest username="bench", realm="example.test", ' +
    'nonce="abcdefabcdefabcdefabcdef", uri="sip:example.test", ' +
    'response="0123456789abcdef0123456789abcdef"\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n',
);
const ANSWER = encoder.encode(
  "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-1;received=127.0.0.1\r\n" +
    "From: <sip:bench@example.test>;tag=1\r\nTo: <sip:bench@example.test>;tag=2\r\n" +
    "Call-ID: 1@x\r\nCSeq: 1 REGISTER\r\n" +
    "Contact: <sip:bench@127.0.0.1:5999;transport=tcp>;expires=300\r\nContent-Length: 0\r\n\r\n",
);

/** CPU time of this thread, ns. */
function cpuNs(): number {
  return Number(Deno.readTextFileSync("/proc/thread-self/schedstat").split(" ")[0]);
}

interface Tree {
  root: string;
  roundTrip(): Promise<void>;
  samples: number[];
  close(): void;
}

interface Sent {
  flow: { id: string };
  send(bytes: Uint8Array): Promise<void>;
}

async function open(root: string): Promise<Tree> {
  const slab = new Uint8Array(128 * 1024);
  let at = 0;
  const connections = new Map<string, Sent>();
  const sink = {
    owner: { node: "bench", worker: 0 },
    deliver(_bytes: Uint8Array, flow: { id: string }) {
      // Serialized into a shared slab, as sip/message.ts does, then sent as a view of it.
      if (at + ANSWER.length > slab.length) at = 0;
      slab.set(ANSWER, at);
      const view = slab.subarray(at, at + ANSWER.length);
      at += ANSWER.length;
      connections.get(flow.id)?.send(view).then(() => {}).catch(() => {});
    },
    admit: () => true,
    opened: (c: Sent) => connections.set(c.flow.id, c),
    closed: (c: Sent) => connections.delete(c.flow.id),
    dropped: () => {},
  };
  const { conn, close, request, answerLength } = WS
    ? await openWs(root, sink)
    : await openTcp(root, sink);
  const batch = new Uint8Array(request.length * K);
  for (let i = 0; i < K; i++) batch.set(request, i * request.length);
  const buffer = new Uint8Array(1 << 20);
  const expected = answerLength * K;
  return {
    root,
    samples: [],
    async roundTrip() {
      await conn.write(batch);
      for (let got = 0; got < expected;) {
        const n = await conn.read(buffer);
        if (n === null) throw new Error(`${root}: connection closed`);
        got += n;
      }
    },
    close() {
      conn.close();
      close();
    },
  };
}

interface Sink {
  opened(c: Sent): void;
  deliver(bytes: Uint8Array, flow: { id: string }): void;
}

interface Opened {
  conn: Deno.Conn;
  close(): void;
  request: Uint8Array;
  answerLength: number;
}

async function openTcp(root: string, sink: Sink): Promise<Opened> {
  const { TcpTransport } = await import(`${root}/src/transport/tcp.ts`);
  const transport = new TcpTransport("127.0.0.1", 0, sink, 65536);
  transport.run();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: transport.local.port });
  return { conn, close: () => transport.close(), request: REQUEST, answerLength: ANSWER.length };
}

/** A server-side `WsConnection` on an accepted socket; the client sends masked text frames. */
async function openWs(root: string, sink: Sink): Promise<Opened> {
  const { WsConnection, handleFrameEvents } = await import(
    `${root}/src/transport/ws_connection.ts`
  );
  const { WsFrameDecoder, encodeFrame, OPCODE } = await import(
    `${root}/src/transport/ws_frames.ts`
  );
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const accepted = await listener.accept();
  const remote = conn.localAddr as Deno.NetAddr;
  const flow = {
    id: `ws-bench-${root}`,
    transport: "ws",
    local: { host: "127.0.0.1", port: listener.addr.port },
    remote: { host: "127.0.0.1", port: remote.port },
    reliable: true,
    secure: false,
  };
  const connection = new WsConnection(accepted, flow, undefined, () => {});
  sink.opened(connection);
  connection.run(
    new Uint8Array(0),
    new WsFrameDecoder(65536),
    // deno-lint-ignore no-explicit-any
    (c: unknown, events: unknown) => handleFrameEvents(c as any, events as any, sink as any),
  );
  return {
    conn,
    close: () => {
      connection.close();
      listener.close();
    },
    request: encodeFrame(OPCODE.text, REQUEST, true),
    answerLength: encodeFrame(OPCODE.text, ANSWER).length,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

const trees: Tree[] = [];
for (const root of ROOTS) trees.push(await open(root));
try {
  for (const t of trees) for (let i = 0; i < 1000; i++) await t.roundTrip(); // JIT, buffers
  for (let block = 0; block < BLOCKS; block++) {
    for (const t of block % 2 ? [...trees].reverse() : trees) {
      const t0 = cpuNs();
      for (let i = 0; i < ROUNDS; i++) await t.roundTrip();
      t.samples.push((cpuNs() - t0) / (ROUNDS * K));
    }
  }
  for (const t of trees) {
    console.log(`K=${K} ${t.root.padEnd(28)} median ${median(t.samples).toFixed(0)} ns/message`);
  }
  if (trees.length === 2) {
    const d = trees[1].samples.map((x, i) => x - trees[0].samples[i]);
    console.log(
      `paired second - first: median ${median(d).toFixed(0)} ns/message, ` +
        `${d.filter((x) => x < 0).length} of ${d.length} blocks lower`,
    );
  }
} finally {
  for (const t of trees) t.close();
}
