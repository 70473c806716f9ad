/**
 * @module sipp scenarios that talk to a browser (JsSIP in Chromium) through sipws: an SDP
 * Chromium accepts although nothing answers on its media port (signalling only), a UAS
 * answering a browser's call, and a UAC calling a browser (answering the 407). Test
 * traffic only; not a product component.
 */
import { waitForListening } from "./ports.ts";
import { sippReply, type SippRun, startSipp } from "./sipp.ts";

/**
 * An SDP Chromium accepts (ICE credentials, a DTLS fingerprint, rtcp-mux, mid 0 as in its
 * offer) although nothing will ever answer on its media port: only signalling is tested
 * against sipp.
 */
function fakeWebRtcSdp(setup: "active" | "actpass"): string {
  const fingerprint = Array.from({ length: 32 }, (_, i) => (i * 7 + 16).toString(16))
    .map((h) => h.padStart(2, "0").toUpperCase()).join(":");
  return [
    "v=0",
    "o=sipp 1 1 IN IP4 127.0.0.1",
    "s=-",
    "c=IN IP4 127.0.0.1",
    "t=0 0",
    "a=group:BUNDLE 0",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111",
    "a=mid:0",
    "a=ice-ufrag:sippufrag",
    "a=ice-pwd:sippicepasswordsippicepassword",
    `a=fingerprint:sha-256 ${fingerprint}`,
    `a=setup:${setup}`,
    "a=rtcp-mux",
    "a=rtpmap:111 opus/48000/2",
    "a=sendrecv",
  ].join("\n");
}

/** The UAS's answer to the INVITE: Record-Route copied, bob's Contact, SDP when given. */
const uasAnswer = (startLine: string, retrans: string, sdp?: string) =>
  `<send${retrans}><![CDATA[
${startLine}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:bob@[local_ip]:[local_port];transport=[transport]>
${
    sdp
      ? `Content-Type: application/sdp\nContent-Length: [len]\n\n${sdp}\n`
      : "Content-Length: 0\n\n"
  }]]></send>`;

/** sipp UAS: INVITE → 180, 200 + SDP; ACK; BYE → 200. */
const UAS_SCENARIO = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="sipws browser to sipp uas">
  <recv request="INVITE" crlf="true" rrs="true" />
  ${uasAnswer("SIP/2.0 180 Ringing", "")}
  ${uasAnswer("SIP/2.0 200 OK", ' retrans="500"', fakeWebRtcSdp("active"))}
  <!-- An INVITE retransmitted before sipws read the 180 (see scenarios/uas_answer.xml). -->
  <recv request="INVITE" optional="true" />
  <recv request="ACK" crlf="true" />
  <recv request="BYE" />
  ${sippReply("200 OK")}
</scenario>
`;

/** A sipp phone on 127.0.0.1:`port` (UDP) answering one browser's call; listening on return. */
export async function startWebRtcPhone(port: number): Promise<SippRun> {
  const run = await startSipp({
    scenarioXml: UAS_SCENARIO,
    args: ["-p", String(port)],
    calls: 1,
    timeoutMs: 30_000,
  });
  try {
    await waitForListening(port, "udp", 5000);
  } catch (e) {
    await run.stop();
    throw e;
  }
  return run;
}

/**
 * sipp UAC as carol: INVITE + SDP, answering a 407 with `[authentication]` (-au/-ap) when
 * the proxy challenges; 200 → ACK along the Record-Route set; after a pause, BYE → 200.
 * Each INVITE is a sipp transaction (start_txn / response_txn / ack_txn), so a final
 * response sent again after sipp moved on is answered with its ACK again: sipp 3.6 forgets
 * a received message once it sent two after it, and would abort the call (a BYE to the
 * 407's To tag) when sipws, stalled past T1 on a loaded box before it read the ACK,
 * retransmits the 407 (Timer G) while the authenticated INVITE is ringing, or when the
 * browser's 200 is sent again after sipp's BYE.
 */
export function uacScenario(target: string, domain: string): string {
  const sdp = fakeWebRtcSdp("actpass");
  const invite = (cseq: number, auth: boolean) =>
    `<send retrans="500" start_txn="invite${cseq}"><![CDATA[
INVITE ${target} SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:carol@${domain}>;tag=[pid]SIPpTag00[call_number]
To: <${target}>
Call-ID: [call_id]
CSeq: ${cseq} INVITE
Contact: <sip:carol@[local_ip]:[local_port]>
Max-Forwards: 70
${auth ? "[authentication]\n" : ""}Content-Type: application/sdp
Content-Length: [len]

${sdp}
]]></send>`;
  const ack2xx = (cseq: number, next: string) =>
    `<send next="${next}" ack_txn="invite${cseq}"><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:carol@${domain}>;tag=[pid]SIPpTag00[call_number]
[last_To:]
[routes]
Call-ID: [call_id]
CSeq: ${cseq} ACK
Contact: <sip:carol@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

]]></send>`;
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="sipws sipp uac to browser">
  ${invite(1, false)}
  <recv response="100" optional="true" response_txn="invite1" />
  <recv response="407" optional="true" auth="true" next="challenged" response_txn="invite1">
    <action>
      <ereg regexp="[^ ].*" search_in="hdr" header="Via:" assign_to="invite1Via" />
      <ereg regexp="[^ ].*" search_in="hdr" header="To:" assign_to="invite1To" />
    </action>
  </recv>
  <recv response="180" optional="true" response_txn="invite1" />
  <recv response="183" optional="true" response_txn="invite1" />
  <recv response="200" rrs="true" response_txn="invite1" />
  ${ack2xx(1, "talk")}
  <label id="challenged" />
  <send ack_txn="invite1"><![CDATA[
ACK ${target} SIP/2.0
Via: [$invite1Via]
From: <sip:carol@${domain}>;tag=[pid]SIPpTag00[call_number]
To: [$invite1To]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
  ${invite(2, true)}
  <recv response="100" optional="true" response_txn="invite2" />
  <recv response="180" optional="true" response_txn="invite2" />
  <recv response="183" optional="true" response_txn="invite2" />
  <recv response="200" rrs="true" response_txn="invite2" />
  ${ack2xx(2, "talk")}
  <label id="talk" />
  <pause milliseconds="1500" />
  <send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:carol@${domain}>;tag=[pid]SIPpTag00[call_number]
[last_To:]
[routes]
Call-ID: [call_id]
CSeq: 3 BYE
Contact: <sip:carol@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200" />
</scenario>
`;
}
