/**
 * @module An in-process sipws (one worker, no sockets: the transport's `send` is replaced by
 * one that serializes and hands the bytes back) with bob registered by digest from UDP port
 * 42000, and a driver for one proxied call from UDP port 41000: INVITE → (407 → ACK →
 * INVITE with Proxy-Authorization, when the caller is a local user) → 180 → 200 → ACK →
 * BYE → 200, bob's answers built from what the proxy relayed to him. Used by
 * bench/call_path.ts (CPU per call) and bench/call_memory.ts (heap per call); `root` is
 * the checkout to load, for A/B runs. Not part of the product.
 */
import { startInProcessServer } from "./in_process_server.ts";

const BOB = { user: "bob", domain: "example.test", password: "bench-secret-1" };
/** A caller of our domain: its initial INVITE is challenged (407), as in the open-loop bench. */
export const ALICE = { user: "alice", domain: "example.test", password: "bench-secret-2" };
const encoder = new TextEncoder();

export interface CallRig {
  /**
   * One call; `local`: the caller is alice of our domain (challenged), else of caller.test.
   * `final` 300-699: bob declines with it after the 180, the caller ACKs it, no BYE.
   */
  call(i: number, body: string, local: boolean, final?: number): void;
  // deno-lint-ignore no-explicit-any
  server: any;
  stop(): Promise<void>;
}

export async function startCallRig(root: string): Promise<CallRig> {
  // The server's own MD5 (node:crypto's createHash would be most of the driver's cost).
  const { md5Hex: md5 } = await import(`${root}/src/sip/md5.ts`);
  const sent: string[] = [];
  const { server, udpPort, stop } = await startInProcessServer(root, "sipws-call-", (config) => {
    if (config.abuse) config.abuse.trusted = ["127.0.0.0/8"];
  }, (text) => sent.push(text));
  await server.store.putAccount(BOB);
  await server.store.putAccount(ALICE);

  const flow = (port: number) => ({
    id: `udp:127.0.0.1:${udpPort}>127.0.0.1:${port}`,
    transport: "udp",
    local: { host: "127.0.0.1", port: udpPort },
    remote: { host: "127.0.0.1", port },
    reliable: false,
    secure: false,
  });
  const CALLER = flow(41000);
  const CALLEE = flow(42000);
  const deliver = (text: string, f: typeof CALLER) =>
    server.transport.deliver(encoder.encode(text), f);
  /** The one message sent since the last take that starts with `start`; fails otherwise. */
  function take(start: string): string {
    const m = sent.find((s) => s.startsWith(start));
    sent.length = 0;
    if (!m) throw new Error(`expected ${start}`);
    return m;
  }
  const lineOf = new Map<string, RegExp>();
  /** The lines of header `name` (as spelled here; the server writes canonical names). */
  const headers = (msg: string, name: string) => {
    let re = lineOf.get(name);
    if (!re) lineOf.set(name, re = new RegExp(`^${name}:.*$`, "gm"));
    return msg.slice(0, msg.indexOf("\r\n\r\n")).match(re) ?? [];
  };
  const digest = (
    who: typeof BOB,
    method: string,
    uri: string,
    challenge: string,
    scheme: string,
  ) => {
    const nonce = /nonce="([^"]+)"/.exec(challenge)![1];
    const ha1 = md5(`${who.user}:${who.domain}:${who.password}`);
    const response = md5(`${ha1}:${nonce}:00000001:c:auth:${md5(`${method}:${uri}`)}`);
    return `${scheme}: Digest username="${who.user}", realm="${who.domain}", nonce="${nonce}", ` +
      `uri="${uri}", response="${response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="c"\r\n`;
  };

  function registerBob(): void {
    const uri = "sip:example.test";
    const req = (auth = "") =>
      `REGISTER ${uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:42000;branch=z9hG4bKreg${auth.length};rport\r\n` +
      `Max-Forwards: 70\r\nFrom: <sip:bob@example.test>;tag=r\r\nTo: <sip:bob@example.test>\r\n` +
      `Call-ID: reg@bench\r\nCSeq: ${auth ? 2 : 1} REGISTER\r\n` +
      `Contact: <sip:bob@127.0.0.1:42000>\r\nExpires: 3600\r\n${auth}Content-Length: 0\r\n\r\n`;
    deliver(req(), CALLEE);
    const challenge = take("SIP/2.0 401");
    deliver(req(digest(BOB, "REGISTER", uri, challenge, "Authorization")), CALLEE);
    take("SIP/2.0 200");
  }

  /** Bob's answer to a request the proxy relayed: its Via, From, To (tagged), Call-ID, CSeq. */
  function answer(req: string, status: string, extra = "", body = ""): string {
    const keep = ["Via", "Record-Route", "From", "Call-ID", "CSeq"].flatMap((h) => headers(req, h));
    const to = headers(req, "To")[0] ?? "";
    return `SIP/2.0 ${status}\r\n${keep.join("\r\n")}\r\n${
      to.includes("tag=") ? to : `${to};tag=b`
    }\r\n${extra}Content-Length: ${body.length}\r\n\r\n${body}`;
  }

  function call(i: number, body: string, local: boolean, final = 200): void {
    const callId = `call-${i}@bench`;
    const from = local ? "alice@example.test" : "alice@caller.test";
    const dialog = (cseq: string, ruri: string, branch: string, route = "", to = "") =>
      `Via: SIP/2.0/UDP 127.0.0.1:41000;branch=z9hG4bK${branch}${i};rport\r\nMax-Forwards: 70\r\n` +
      `From: <sip:${from}>;tag=a${i}\r\nTo: <sip:bob@example.test>${
        to || (ruri ? ";tag=b" : "")
      }\r\nCall-ID: ${callId}\r\nCSeq: ${cseq}\r\n${route}`;
    const invite = (cseq: string, branch: string, auth: string) =>
      `INVITE sip:bob@example.test SIP/2.0\r\n${dialog(cseq, "", branch)}${auth}` +
      `Contact: <sip:alice@127.0.0.1:41000>\r\nContent-Type: application/sdp\r\n` +
      `Content-Length: ${body.length}\r\n\r\n${body}`;
    let cseq = 1;
    let auth = "";
    if (local) {
      deliver(invite("1 INVITE", "inv", ""), CALLER);
      const challenge = take("SIP/2.0 407");
      const toTag = /^To:.*(;tag=[^;\r\n]+)/im.exec(challenge)![1];
      deliver(
        `ACK sip:bob@example.test SIP/2.0\r\n${
          dialog("1 ACK", "", "inv", "", toTag)
        }Content-Length: 0\r\n\r\n`,
        CALLER,
      );
      cseq = 2;
      auth = digest(
        ALICE,
        "INVITE",
        "sip:bob@example.test",
        challenge,
        "Proxy-Authorization",
      );
    }
    deliver(invite(`${cseq} INVITE`, "inva", auth), CALLER);
    const inv = take("INVITE ");
    deliver(answer(inv, "180 Ringing"), CALLEE);
    take("SIP/2.0 180");
    if (final >= 300) {
      // The proxy ACKs bob (hop by hop) and relays the final; the caller ACKs the proxy.
      deliver(answer(inv, `${final} Declined`), CALLEE);
      const declined = take(`SIP/2.0 ${final}`);
      const toTag = /^To:.*(;tag=[^;\r\n]+)/im.exec(declined)![1];
      deliver(
        `ACK sip:bob@example.test SIP/2.0\r\n${
          dialog(`${cseq} ACK`, "", "inva", "", toTag)
        }Content-Length: 0\r\n\r\n`,
        CALLER,
      );
      return;
    }
    deliver(
      answer(
        inv,
        "200 OK",
        "Contact: <sip:bob@127.0.0.1:42000>\r\nContent-Type: application/sdp\r\n",
        body,
      ),
      CALLEE,
    );
    const ok = take("SIP/2.0 200");
    const route = headers(ok, "Record-Route").map((h) => h.replace(/^Record-Route/i, "Route"))
      .join("\r\n");
    const rr = route ? `${route}\r\n` : "";
    const bob = "sip:bob@127.0.0.1:42000";
    deliver(
      `ACK ${bob} SIP/2.0\r\n${dialog(`${cseq} ACK`, bob, "ack", rr)}Content-Length: 0\r\n\r\n`,
      CALLER,
    );
    take("ACK ");
    deliver(
      `BYE ${bob} SIP/2.0\r\n${dialog(`${cseq + 1} BYE`, bob, "bye", rr)}Content-Length: 0\r\n\r\n`,
      CALLER,
    );
    const bye = take("BYE ");
    deliver(answer(bye, "200 OK"), CALLEE);
    take("SIP/2.0 200");
  }

  registerBob();
  return {
    call,
    server,
    stop,
  };
}
