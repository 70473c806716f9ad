/**
 * @module The open-loop REGISTER as sipp sends bench/scenarios/register_digest.xml
 * (Authorization after the Contact, no spaces in it), for the in-process benches. Not part
 * of the product.
 */

import { createHash } from "node:crypto";

/** The account every bench registers. */
export const BENCH_ACCOUNT = {
  user: "bench",
  domain: "example.test",
  password: "bench-secret-1",
};
/** The Request-URI of the benches' REGISTERs. */
export const BENCH_REGISTER_URI = `sip:${BENCH_ACCOUNT.domain}`;

const md5 = (s: string) => createHash("md5").update(s).digest("hex");
const HA1 = md5(`${BENCH_ACCOUNT.user}:${BENCH_ACCOUNT.domain}:${BENCH_ACCOUNT.password}`);
const HA2 = md5(`REGISTER:${BENCH_REGISTER_URI}`);

/** The digest response (qop=auth, nc 1) of the bench account's REGISTER to `nonce`. */
export function benchDigestResponse(nonce: string, cnonce: string): string {
  return md5(`${HA1}:${nonce}:00000001:${cnonce}:auth:${HA2}`);
}

/** The bench account's Authorization for `nonce`, written as sipp writes it (no spaces). */
export function openAuthorization(nonce: string, cnonce: string): string {
  return `Digest username="${BENCH_ACCOUNT.user}",realm="${BENCH_ACCOUNT.domain}",` +
    `uri="${BENCH_REGISTER_URI}",nonce="${nonce}",response="${
      benchDigestResponse(nonce, cnonce)
    }",` +
    `algorithm=MD5,cnonce="${cnonce}",qop=auth,nc=00000001`;
}

/** Registration `call`'s REGISTER to `uri` with Via branch number `branch`, with `auth` if given. */
export function openRegisterText(uri: string, branch: number, call: number, auth?: string): string {
  return `REGISTER ${uri} SIP/2.0\r\n` +
    `Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bK-1-${branch}-0;rport\r\n` +
    `Max-Forwards: 70\r\nFrom: <sip:bench@example.test>;tag=1R${call}\r\n` +
    `To: <sip:bench@example.test>\r\nCall-ID: ${call}-1@127.0.0.1\r\n` +
    `CSeq: ${auth ? 2 : 1} REGISTER\r\n` +
    `Contact: <sip:bench@127.0.0.1:40000;transport=UDP>\r\n` +
    (auth ? `Authorization: ${auth}\r\n` : "") +
    `Expires: 3600\r\nContent-Length: 0\r\n\r\n`;
}
