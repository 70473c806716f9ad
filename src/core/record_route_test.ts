import assert from "node:assert/strict";
import { parseMessage } from "../sip/parse.ts";
import type { SipRequest } from "../sip/message.ts";
import { parseNameAddr } from "../sip/name_addr.ts";
import type { Address, Flow, TransportName } from "../transport/types.ts";
import { parseVia } from "../sip/via.ts";
import {
  BRANCH_PREFIX,
  FlowTokens,
  isLoop,
  loopHash,
  newProxyBranch,
  ourRoute,
  parsedVia,
  recordRouteEntry,
  type RecordRouteParams,
  recordRouteValue,
  statelessBranch,
  viaValue,
} from "./record_route.ts";

function flow(transport: Flow["transport"], id: string, host = "127.0.0.1", port = 40000): Flow {
  return {
    id,
    transport,
    local: { host: "127.0.0.1", port: 5060 },
    remote: { host, port },
    reliable: transport !== "udp",
    secure: transport === "wss" || transport === "tls",
  };
}

function invite(extra = ""): SipRequest {
  const text = "INVITE sip:bob@example.test SIP/2.0\r\n" +
    "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc\r\n" + extra +
    "From: <sip:alice@example.test>;tag=a1\r\nTo: <sip:bob@example.test>\r\n" +
    "Call-ID: c1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
  return parseMessage(new TextEncoder().encode(text)) as SipRequest;
}

Deno.test("flow tokens: stream flows by connection id, UDP by address; forgeries rejected", () => {
  const tokens = new FlowTokens();
  const ws = tokens.encode(flow("ws", "ws:7"));
  assert.deepEqual(tokens.decode(ws), { flowId: "ws:7" });
  const udp = tokens.encode(flow("udp", "udp:x", "::1", 5099));
  assert.deepEqual(tokens.decode(udp), { udp: { transport: "udp", host: "::1", port: 5099 } });
  assert.match(ws, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, "safe in a URI parameter");
  // Another user's connection id with a made-up MAC, or another key: refused.
  const body = ws.split(".")[0];
  assert.equal(tokens.decode(`${body}.AAAAAAAAAAAA`), undefined);
  assert.equal(new FlowTokens().decode(ws), undefined);
  assert.equal(tokens.decode("garbage"), undefined);
});

Deno.test("record-route value carries lr, transport, ftag and both tokens", () => {
  const value = recordRouteValue("127.0.0.1", 5080, "ws", {
    ftag: "a1",
    caller: "c.x",
    callee: "d.y",
  });
  const uri = parseNameAddr(value).uri;
  assert.equal(uri.port, 5080);
  assert.equal(uri.params.get("transport"), "ws");
  assert.ok(uri.params.has("lr"));
  const { ftag, caller, callee } = ourRoute(uri);
  assert.deepEqual({ ftag, caller, callee }, { ftag: "a1", caller: "c.x", callee: "d.y" });
  const v6 = parseNameAddr(recordRouteValue("::1", 5060, "udp", { ftag: "" })).uri;
  assert.equal(v6.host, "::1");
});

Deno.test("loop detection: our branch with the same hash is a loop; a retargeted request is a spiral", () => {
  const first = invite();
  const hash = loopHash(first);
  assert.equal(isLoop(first, hash), false);
  const branch = newProxyBranch(hash);
  assert.ok(branch.startsWith(BRANCH_PREFIX) && branch.startsWith("z9hG4bK"));
  // The same request comes back through us: our Via is now in it.
  const looped = invite(`Via: SIP/2.0/UDP 127.0.0.1:5060;branch=${branch}\r\n`);
  assert.equal(loopHash(looped), hash, "the hash ignores the Vias");
  assert.equal(isLoop(looped, loopHash(looped)), true);
  // Another sipws on the path wrote that Via (same branch scheme, not our address).
  const ours = (host: string, port: number | undefined) => host === "127.0.0.1" && port === 5070;
  assert.equal(isLoop(looped, hash, ours), false, "another instance's Via is no loop");
  assert.equal(isLoop(looped, hash, (h, p) => h === "127.0.0.1" && p === 5060), true);
  // Same Call-ID but a new Request-URI (retargeted): a legal spiral.
  const spiral = invite(`Via: SIP/2.0/UDP 127.0.0.1:5060;branch=${branch}\r\n`);
  spiral.uri = "sip:bob@127.0.0.1:5070";
  assert.equal(isLoop(spiral, loopHash(spiral)), false);
  // Two forwards of one request get different branches.
  assert.notEqual(newProxyBranch(hash), branch);
});

Deno.test("stateless branch is stable for a retransmission and differs per request", () => {
  const a = invite();
  assert.equal(statelessBranch(a), statelessBranch(invite()));
  const b = invite();
  b.set("via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKother");
  assert.notEqual(statelessBranch(a), statelessBranch(b));
});

Deno.test("flow tokens: a rotated key still reads tokens of the previous key, not older ones", () => {
  const oldKey = new Uint8Array(20).fill(1);
  const newKey = new Uint8Array(20).fill(2);
  const before = new FlowTokens(oldKey).encode(flow("tcp", "tcp:n.0.3"));
  const tokens = new FlowTokens(newKey, oldKey);
  assert.deepEqual(tokens.decode(before), { flowId: "tcp:n.0.3" });
  const after = tokens.encode(flow("tcp", "tcp:n.0.3"));
  assert.notEqual(after, before);
  tokens.setSecrets(new Uint8Array(20).fill(3), newKey);
  assert.equal(tokens.decode(before), undefined);
  assert.deepEqual(tokens.decode(after), { flowId: "tcp:n.0.3" });
  // A worker sharing the key reads a UDP token for a peer it never heard from.
  const udp = new FlowTokens(newKey).encodeUdp({ host: "127.0.0.1", port: 5070 });
  assert.deepEqual(new FlowTokens(newKey).decode(udp), {
    udp: { transport: "udp", host: "127.0.0.1", port: 5070 },
  });
});

Deno.test("parsedVia is what parsing our Via gives (IPv4, IPv6, a host name; with and without rport)", () => {
  const cases: [TransportName, Address, boolean][] = [
    ["udp", { host: "127.0.0.1", port: 5060 }, true],
    ["tcp", { host: "::1", port: 5070 }, false],
    ["wss", { host: "Sip.Example.TEST", port: 443 }, false],
  ];
  for (const [transport, local, rport] of cases) {
    const value = `${viaValue(transport, local, "z9hG4bK-sw-1", rport)};swf=a.b`;
    assert.deepEqual(
      parsedVia(transport, local, "z9hG4bK-sw-1", rport, ["swf", "a.b"]),
      parseVia(value),
    );
  }
});

Deno.test("recordRouteEntry is what routing reads of the parsed Record-Route value; none for a From tag that is no token", () => {
  const cases: [Address, TransportName, RecordRouteParams][] = [
    [{ host: "127.0.0.1", port: 5060 }, "udp", { ftag: "a1", caller: "c.x", callee: "d.y" }],
    [{ host: "::1", port: 5070 }, "ws", { ftag: "", caller: "c.x" }],
    [{ host: "Sip.Example.TEST", port: 443 }, "wss", { ftag: "Tag-9" }],
  ];
  for (const [local, transport, params] of cases) {
    const value = recordRouteValue(local.host, local.port, transport, params);
    assert.deepEqual(recordRouteEntry(local, params), ourRoute(parseNameAddr(value).uri));
  }
  const odd = { ftag: 'a"b' };
  assert.equal(recordRouteEntry({ host: "127.0.0.1", port: 5060 }, odd), undefined);
  // The port a parse implies; a relay token, even bare, makes a Route ours.
  const implied = ourRoute(parseNameAddr("<sips:[::1];swr>").uri);
  assert.deepEqual([implied.host, implied.port, implied.relay], ["::1", 5061, ""]);
  assert.equal(ourRoute(parseNameAddr("<sip:h;transport=TLS>").uri).port, 5061);
  assert.equal(ourRoute(parseNameAddr("<sip:h;swr=b1>").uri).port, 5060);
  assert.equal(ourRoute(parseNameAddr("<sip:h;swr=b1>").uri).relay, "b1");
});

Deno.test("isLoop asks for the hash only when a Via of ours is there to compare", () => {
  let asked = 0;
  const hashOf = (request: SipRequest) => () => (asked++, loopHash(request));
  const fresh = invite();
  assert.equal(isLoop(fresh, hashOf(fresh)), false);
  assert.equal(asked, 0);
  const branch = newProxyBranch(loopHash(fresh));
  const looped = invite(`Via: SIP/2.0/UDP 127.0.0.1:5060;branch=${branch}\r\n`);
  assert.equal(isLoop(looped, hashOf(looped)), true);
  assert.equal(asked, 1);
});
