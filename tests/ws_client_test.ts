/**
 * @module WS client mode between two real sipws instances: a sipp UAC (alice, over UDP)
 * calls `sip:bob@<B>;transport=ws` (or wss) through sipws A; A has no flow to B, so it opens
 * a WebSocket (subprotocol sip) to B, and the whole call (INVITE with 407, 180, 200, ACK,
 * BYE) goes over that one connection to B, where bob is a sipp UAS registered over UDP; when
 * bob hangs up, B's BYE comes back to A on that same connection. Over
 * WSS, A verifies B's certificate against the test CA of `[websocket] client_ca_file`;
 * without it the connection is refused. IP literals only.
 */
import assert from "node:assert/strict";
import { makeCaSignedCert } from "./support/certs.ts";
import { freePorts } from "./support/ports.ts";
import { registerContact } from "./support/sip_client.ts";
import {
  callerArgs,
  describeSipp,
  runSipp,
  sippListening,
  sippReply,
  startSipp,
} from "./support/sipp.ts";
import { countersOf, startTestServer } from "./support/test_server.ts";
import { SipRequest } from "../src/sip/message.ts";

const ALICE = { user: "alice", domain: "a.test", password: "alice-pw" };
const BOB = { user: "bob", domain: "b.test", password: "bob-pw" };
const SCENARIOS = new URL("./support/scenarios/", import.meta.url).pathname;

/** Callee hangs up: bob's UAS sends the BYE by the route set, alice's UAC answers it. */
function calleeHangsUp(uas: string, uac: string): { uas: string; uac: string } {
  const bye = `<pause milliseconds="300"/>
  <send retrans="250">
    <![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:bob@b.test>;tag=[pid]SIPpTag01[call_number]
      To: <[$caller]
      [routes]
      Call-ID: [call_id]
      CSeq: 1 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
  <pause/>`;
  const uasOut = uas
    .replace(
      '<recv request="INVITE" crlf="true">',
      '<recv request="INVITE" crlf="true" rrs="true">',
    )
    .replace(
      '<ereg regexp=";lr"',
      '<ereg regexp="sip:alice@[^;]*;tag=[^;]*" search_in="hdr" header="From:" assign_to="caller"/>\n      <ereg regexp=";lr"',
    )
    .replace(/<recv request="BYE"\/>[\s\S]*<pause\/>/, bye)
    .replace('variables="se,rr"', 'variables="se,rr,caller"');
  const answer = `<recv request="BYE"/>
  ${sippReply("200 OK")}`;
  const uacOut = uac.replace(
    /<send retrans="250">[\s\S]*?<recv response="200" crlf="true"\/>/,
    answer,
  );
  return { uas: uasOut, uac: uacOut };
}

const CASES = [
  { transport: "ws", hangup: "caller" },
  { transport: "wss", hangup: "caller" },
  { transport: "ws", hangup: "callee" },
] as const;

for (const { transport, hangup } of CASES) {
  Deno.test(`WS client mode: a call from A to B over an outbound ${transport}, ${hangup} hangs up`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "sipws-wsclient-" });
    const ca = await makeCaSignedCert(`${dir}/ca`);
    await Deno.writeTextFile(`${dir}/ca/trusted.pem`, ca.ca);
    try {
      await using b = await startTestServer({
        transports: ["udp", "ws", "wss"],
        accounts: [BOB],
        configure: (c) => {
          c.certificate = ca.chainFile;
          c.privateKey = ca.keyFile;
        },
      });
      await using a = await startTestServer({
        transports: ["udp", "ws", "wss"],
        accounts: [ALICE],
        configure: (c) => {
          c.sip.allowForeignDomains = true;
          c.websocket.clientCaFile = `${dir}/ca/trusted.pem`;
        },
      });
      const [uasPort, uacPort] = freePorts(2);
      await registerContact(b.port("udp"), BOB, `sip:bob@127.0.0.1:${uasPort}`);
      const target = `127.0.0.1:${b.port(transport)};transport=${transport}`;
      let uacXml = (await Deno.readTextFile(`${SCENARIOS}uac_call.xml`))
        .replaceAll("sip:[service]@example.test SIP/2.0", `sip:[service]@${target} SIP/2.0`)
        .replaceAll("example.test", ALICE.domain);
      let uasXml = await Deno.readTextFile(`${SCENARIOS}uas_answer.xml`);
      if (hangup === "callee") ({ uas: uasXml, uac: uacXml } = calleeHangsUp(uasXml, uacXml));
      await using uas = await startSipp({
        scenarioXml: uasXml,
        args: ["-p", String(uasPort), "-t", "u1", "-d", "500"],
        calls: 1,
        timeoutMs: 20_000,
      });
      await sippListening(uas, uasPort, "udp");
      const uac = await runSipp({
        scenarioXml: uacXml,
        args: callerArgs({
          server: `127.0.0.1:${a.port("udp")}`,
          port: uacPort,
          transport: "u1",
          service: "bob",
          account: ALICE,
        }),
        calls: 1,
        timeoutMs: 20_000,
      });
      assert.equal(uac.code, 0, describeSipp(uac));
      assert.equal(uac.stats?.successfulCalls, 1, describeSipp(uac));
      const uasResult = await uas.result();
      assert.equal(uasResult.code, 0, describeSipp(uasResult));

      // One connection, opened by A, carried the whole call.
      const opened = async (s: typeof a) =>
        (await countersOf(s)).total("sip_connections_opened_total", { transport });
      assert.equal(await opened(a), 1, "A opened one WebSocket to B");
      assert.equal(await opened(b), 1, "B accepted one");
      const [link] = a.server.transport.connections();
      assert.equal(link.flow.transport, transport);
      assert.deepEqual(link.flow.remote, { host: "127.0.0.1", port: b.port(transport) });
      assert.ok(link.messagesOut >= 3, "INVITE, ACK and BYE (or its 200) went out on it");
      assert.ok(link.messagesIn >= 3, "the responses came back on it");
      if (hangup === "callee") {
        // B sent bob's BYE back on the connection A opened (its flow token), not a new one.
        const byes = (await countersOf(b)).total("sip_messages_out_total", {
          transport,
          method: "BYE",
        });
        assert.equal(byes, 1, "B sent the BYE over the WebSocket from A");
        assert.equal(
          (await countersOf(a)).total("sip_messages_in_total", { transport, method: "BYE" }),
          1,
        );
      }
      const inB = (await countersOf(b)).total("sip_messages_in_total", { transport });
      assert.ok(inB >= 3, `B received the call over ${transport}`);

      if (transport === "wss") {
        // Without the test CA, B's certificate is not trusted: no connection is made.
        link.close();
        a.server.transport.setWebSocketClientCa(undefined);
        const probe = new SipRequest("OPTIONS", `sip:127.0.0.1:${b.port("wss")}`);
        await assert.rejects(
          a.server.transport.send(probe, {
            transport: "wss",
            host: "127.0.0.1",
            port: b.port("wss"),
          }),
        );
        assert.equal(await opened(b), 1, "no second WSS connection reached B");
      }
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  });
}
