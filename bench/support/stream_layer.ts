/**
 * @module `root`'s transport layer with a hand-made TCP flow open on it, for the stream
 * benches (bench/stream_send.ts, bench/stream_backlog.ts): no listener, no socket; what the
 * layer writes on the flow goes to `send`. Not part of the product.
 */

export async function streamLayer(
  root: string,
  send: (bytes: Uint8Array) => Promise<unknown>,
  // deno-lint-ignore no-explicit-any
): Promise<{ layer: any; flow: any }> {
  const { TransportLayer } = await import(`${root}/src/transport/layer.ts`);
  const { Counters } = await import(`${root}/src/events.ts`);
  const layer = new TransportLayer({
    hostname: "127.0.0.1",
    websocket: { allowedOrigins: [], checkHost: false, cors: "none" },
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
    counters: new Counters(),
  });
  const flow = {
    id: "tcp:bench.0.abcd-1",
    owner: layer.owner,
    transport: "tcp",
    local: { host: "127.0.0.1", port: 5060 },
    remote: { host: "127.0.0.1", port: 40000 },
    reliable: true,
    secure: false,
  };
  layer.opened({
    flow,
    openedAt: 0,
    messagesIn: 0,
    messagesOut: 0,
    lastActivity: 0,
    send,
    ping() {},
    close() {},
  });
  return { layer, flow };
}
