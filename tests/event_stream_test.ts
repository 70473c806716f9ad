/**
 * @module `GET /events` over real HTTP: a WebSocket client registers and goes away while an
 * operator's stream, filtered to `registration.added` and `ws.closed`, receives exactly those
 * two events (the close with its AOR and who closed); the key is required, an unknown type is
 * a 400, and shutting the HTTP listener down ends an open stream instead of waiting on it. A
 * client that reads nothing is cut off after a bounded queue.
 */
import assert from "node:assert/strict";
import { createApiApp } from "../src/api/app.ts";
import { startHttpApi } from "../src/api/http_server.ts";
import { register, TestSipClient } from "./support/sip_client.ts";
import { startTestServer } from "./support/test_server.ts";

const ALICE = { user: "alice", domain: "example.test", password: "pw-a" };
const KEY = "events-key";

interface ServerSentEvent {
  event: string;
  data: Record<string, unknown>;
}

/** Reads `text/event-stream` events (comments skipped) as they come. */
async function* serverSentEvents(body: ReadableStream<Uint8Array>) {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of body) {
    buffered += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = buffered.indexOf("\n\n")) >= 0) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const field = (name: string) =>
        block.split("\n").find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
      const event = field("event");
      if (event) yield { event, data: JSON.parse(field("data")!) } as ServerSentEvent;
    }
  }
}

Deno.test("GET /events streams registration.added and ws.closed as they happen; shutdown ends it", async () => {
  await using ts = await startTestServer({
    transports: ["ws"],
    accounts: [ALICE],
    configure: (c) => c.keys = [KEY],
  });
  const http = startHttpApi(ts.server, 0, "127.0.0.1");
  const url = `http://127.0.0.1:${http.port}/events`;
  const auth = { authorization: `Bearer ${KEY}` };
  try {
    const noKey = await fetch(url);
    assert.equal(noKey.status, 401);
    await noKey.body?.cancel();
    const bad = await fetch(`${url}?types=ws.closed,nothing.happened`, { headers: auth });
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).error.code, "invalid_field");

    const stream = await fetch(`${url}?types=registration.added,ws.closed`, { headers: auth });
    assert.equal(stream.status, 200);
    assert.match(stream.headers.get("content-type") ?? "", /^text\/event-stream/);
    const events = serverSentEvents(stream.body!);

    const client = await TestSipClient.connect("ws", ts.port("ws"));
    assert.equal((await register(client, { ...ALICE, expires: 600 })).status, 200);
    const added = (await events.next()).value as ServerSentEvent;
    assert.equal(added.event, "registration.added");
    const binding = (added.data as { binding: { aor: string; flow: { id: string } } }).binding;
    assert.equal(binding.aor, `${ALICE.user}@${ALICE.domain}`);

    client.close();
    // registration.removed (flow_closed) happens too, but was not asked for.
    const closed = (await events.next()).value as ServerSentEvent;
    assert.equal(closed.event, "ws.closed");
    assert.deepEqual(closed.data.closed, {
      ...(closed.data.closed as object),
      id: binding.flow.id,
      by: "client",
      aors: [binding.aor],
    });

    // Shutting the listener down ends the open stream (it does not wait on it).
    await http.close();
    assert.equal((await events.next()).done, true);
  } finally {
    await http.close();
  }
});

Deno.test("GET /events cuts off a client that does not read instead of queueing without bound", async () => {
  await using ts = await startTestServer({ transports: ["ws"], configure: (c) => c.keys = [KEY] });
  const app = createApiApp(ts.server);
  const stream = await app.request("/events?types=server.started", {
    headers: { authorization: `Bearer ${KEY}` },
  });
  // Nothing is read while 5000 events happen.
  for (let i = 0; i < 5000; i++) ts.server.events.emit({ type: "server.started" });
  let received = 0;
  for await (const _ of serverSentEvents(stream.body!)) received++;
  assert.ok(received > 0 && received <= 1000, `${received} queued, then the stream ended`);
});
