/**
 * @module The open-loop REGISTER as sipp sends bench/scenarios/register_digest.xml
 * (Authorization after the Contact, no spaces in it), for the in-process benches. Not part
 * of the product.
 */

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
