import assert from "node:assert/strict";
import { defaultConfig } from "../config/config.ts";
import { Counters, EventBus } from "../events.ts";
import type { SipRequest, SipResponse } from "../sip/message.ts";
import { createResponse } from "../sip/message.ts";
import { parseUri } from "../sip/uri.ts";
import type { ClientHandlers } from "../transaction/layer.ts";
import type { Flow, Target } from "../transport/types.ts";
import { type Binding, contactFields } from "./binding.ts";
import { LocationService } from "./location.ts";
import { buildPing, type PingerDeps, startPinger } from "./pinger.ts";
import { testFlow } from "./fixtures_test.ts";

const flow: Flow = testFlow("ws");

function binding(): Binding {
  const contact = "sip:k2j3h4@df7jal23ls0d.invalid;transport=ws";
  return {
    aor: "alice@example.test",
    domain: "example.test",
    user: "alice",
    ...contactFields(contact, parseUri(contact)),
    contactParams: "",
    flow,
    callId: "c",
    cseq: 1,
    expiresAt: Date.now() + 600_000,
    registeredAt: Date.now(),
    path: ["<sip:edge.example.test;lr>"],
    outstandingPings: 0,
  };
}

function rig(maxMisses = 3, connected = true) {
  const config = defaultConfig();
  config.ping.interval = 0; // driven by pingAll()
  config.ping.maxMisses = maxMisses;
  const events = new EventBus();
  const removed: string[] = [];
  events.on("registration.removed", (e) => removed.push(e.cause));
  const location = new LocationService(events);
  const sent: { request: SipRequest; target: Target; handlers: ClientHandlers }[] = [];
  const deps: PingerDeps = {
    config,
    location,
    counters: new Counters(),
    transport: {
      localAddress: () => ({ host: "192.0.2.10", port: 8080 }),
      connection: () => connected ? {} : undefined,
      owns: () => true,
    },
    transactions: {
      sendRequest(request, target, handlers) {
        sent.push({ request, target, handlers });
        return {} as ReturnType<PingerDeps["transactions"]["sendRequest"]>;
      },
    },
  };
  return { deps, location, sent, removed };
}

Deno.test("buildPing: OPTIONS to the contact, through its Path, with a fresh branch", () => {
  const { deps } = rig();
  const b = binding();
  const ping = buildPing(deps, b, 7);
  assert.equal(ping.method, "OPTIONS");
  assert.equal(ping.uri, b.contact);
  assert.match(
    ping.get("via")!,
    /^SIP\/2\.0\/WS 192\.0\.2\.10:8080;branch=z9hG4bK[0-9a-f]+;rport$/,
  );
  assert.equal(ping.get("route"), "<sip:edge.example.test;lr>");
  assert.equal(ping.get("to"), "<sip:alice@example.test>");
  assert.equal(ping.cseq.seq, 7);
  assert.equal(ping.cseq.method, "OPTIONS");
});

Deno.test("pinger: misses count up, any response resets, maxMisses removes (ping_failed)", () => {
  const { deps, location, sent, removed } = rig(3);
  const pinger = startPinger(deps);
  const b = binding();
  location.save(b);
  pinger.pingAll();
  pinger.pingAll(); // still pending: not sent twice
  assert.equal(sent.length, 1);
  sent[0].handlers.onTimeout();
  assert.equal(location.get(b.aor, b.key)!.outstandingPings, 1);
  pinger.pingAll();
  sent[1].handlers.onTransportError(new Error("gone"));
  assert.equal(location.get(b.aor, b.key)!.outstandingPings, 2);
  pinger.pingAll();
  const reply: SipResponse = createResponse(sent[2].request, 404);
  sent[2].handlers.onResponse(reply, flow);
  assert.equal(
    location.get(b.aor, b.key)!.outstandingPings,
    0,
    "any final response proves the contact alive",
  );
  for (let i = 0; i < 3; i++) {
    pinger.pingAll();
    sent[sent.length - 1].handlers.onTimeout();
  }
  assert.equal(location.size, 0);
  assert.deepEqual(removed, ["ping_failed"]);
  pinger.close();
});

Deno.test("pinger: a reload that changes the interval re-arms the timer", async () => {
  const { deps, location, sent } = rig(3);
  location.save(binding());
  const pinger = startPinger(deps);
  try {
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(sent.length, 0, "interval 0: no timer");
    deps.config.ping.interval = 0.01; // 10 ms, as a reload would set it
    pinger.reload();
    for (let i = 0; i < 100 && sent.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(sent.length, 1, "the new interval is in force without a restart");
  } finally {
    pinger.close();
  }
});

Deno.test("pinger: a kept TCP binding whose connection closed is pinged at its Contact", () => {
  const { deps, location, sent } = rig(3, false);
  const contact = "sip:bob@127.0.0.1:5070;transport=tcp";
  const tcp: Binding = {
    ...binding(),
    ...contactFields(contact, parseUri(contact)),
    flow: testFlow("tcp"),
    path: [],
  };
  location.save(tcp);
  location.save(binding()); // a browser's: only its (closed) flow reached it
  const pinger = startPinger(deps);
  pinger.pingAll();
  assert.deepEqual(sent.map((s) => s.target), [{
    transport: "tcp",
    host: "127.0.0.1",
    port: 5070,
  }]);
  const browser = location.all().find((b) => b.contactHost.endsWith(".invalid"))!;
  assert.equal(browser.outstandingPings, 1, "no flow, no ping: a miss");
  pinger.close();
});
