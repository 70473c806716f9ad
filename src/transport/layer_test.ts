import assert from "node:assert/strict";
import { Counters } from "../events.ts";
import { parseMessage } from "../sip/parse.ts";
import { localOwner, streamFlowId } from "./flow_id.ts";
import { TransportLayer } from "./layer.ts";
import type { Flow } from "./types.ts";

const options = {
  hostname: "127.0.0.1",
  websocket: { allowedOrigins: [], checkHost: false, cors: "none" as const },
  isServedHost: () => true,
  webSocketLimits: {
    maxHeaderSize: 8192,
    pingInterval: 0,
    pingTimeout: 0,
    maxMessageSize: 65536,
    maxFragments: 0,
    handshakeTimeout: 10,
    sendTimeout: 0,
  },
  maxMessageSize: 65536,
};

function message() {
  return parseMessage(
    new TextEncoder().encode(
      "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKx\r\n" +
        "From: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>\r\nCall-ID: c\r\n" +
        "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    ),
  );
}

Deno.test("flow ids: unique per process, carry their owner; two processes never collide", () => {
  const a = localOwner();
  const b = localOwner();
  assert.notEqual(a.node, b.node, "random node ids");
  const ids = new Set([streamFlowId("ws", a), streamFlowId("ws", a), streamFlowId("ws", b)]);
  assert.equal(ids.size, 3);
  assert.match(streamFlowId("tcp", { node: "n1", worker: 2 }), /^tcp:n1\.2\.[0-9a-z]{4}-\d+$/);
  assert.throws(() => localOwner("bad id!"), /node id/);
});

Deno.test("flow ids: a restarted worker with the same node id and number gets new ids", async () => {
  const url = new URL("./flow_id.ts", import.meta.url).href;
  const script = `import { streamFlowId } from "${url}";` +
    `console.log(streamFlowId("tcp", { node: "n1", worker: 0 }));`;
  const run = async () => {
    const out = await new Deno.Command(Deno.execPath(), { args: ["eval", script] }).output();
    return new TextDecoder().decode(out.stdout).trim();
  };
  const [first, second] = [await run(), await run()];
  assert.match(first, /^tcp:n1\.0\.[0-9a-z]{4}-1$/);
  assert.notEqual(first, second, "two runs, both counting from 1, never share an id");
});

Deno.test("send: a stream flow of another worker goes to its owner, never to a local socket", async () => {
  const layer = new TransportLayer({
    ...options,
    counters: new Counters(),
    owner: { node: "n1", worker: 0 },
  });
  const theirs: Flow = {
    id: streamFlowId("ws", { node: "n1", worker: 1 }),
    owner: { node: "n1", worker: 1 },
    transport: "ws",
    local: { host: "127.0.0.1", port: 5060 },
    remote: { host: "127.0.0.1", port: 40000 },
    reliable: true,
    secure: false,
  };
  assert.equal(layer.owns(theirs), false);
  assert.equal(layer.owns({ ...theirs, owner: { node: "n1", worker: 0 } }), true);
  // No owner to hand it to: like a closed connection (a WebSocket cannot be reached anew).
  await assert.rejects(layer.send(message(), { flow: theirs }), /no ws connection/);
  const handed: [string, string][] = [];
  layer.sendForeign = (bytes, flow) => {
    handed.push([flow.id, new TextDecoder().decode(bytes).split("\r\n")[0]]);
    return Promise.resolve();
  };
  assert.equal(await layer.send(message(), { flow: theirs }), theirs);
  assert.deepEqual(handed, [[theirs.id, "OPTIONS sip:a@127.0.0.1 SIP/2.0"]]);
});
