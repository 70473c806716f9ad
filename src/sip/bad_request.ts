/**
 * @module The stateless `400 Bad Request` (or `505`) for bytes that failed to parse (RFC 3261 §8.2,
 * DESIGN "so the sender stops retransmitting"). Recovers Via, From, To, Call-ID and CSeq
 * from the raw text when it can; returns undefined when no response may be built (a
 * response, an ACK, or a request missing those headers).
 */
import { SipResponse } from "./message.ts";
import { headerKey } from "./headers.ts";

const REQUIRED = ["via", "from", "to", "call-id", "cseq"];
const decoder = new TextDecoder();

export function buildBadRequest(
  bytes: Uint8Array,
  reason: string,
  status = 400,
): SipResponse | undefined {
  const text = decoder.decode(bytes.subarray(0, Math.min(bytes.length, 16384)));
  const lines = text.replace(/^[\r\n]+/, "").split(/\r?\n/);
  const start = lines[0] ?? "";
  const method = /^([A-Za-z]+) \S+ SIP\/\d\.\d$/i.exec(start)?.[1];
  if (!method || method.toUpperCase() === "ACK") return undefined;
  const res = new SipResponse(status, sanitizeReason(reason));
  const found = new Set<string>();
  for (let i = 1; i < lines.length && lines[i] !== ""; i++) {
    const m = /^([A-Za-z0-9\-.!%*_+`'~]+)\s*:\s*(.*)$/.exec(lines[i]);
    if (!m) continue;
    const key = headerKey(m[1]);
    if (!REQUIRED.includes(key)) continue;
    if (key !== "via" && found.has(key)) continue;
    found.add(key);
    res.append(key, m[2].trim());
  }
  if (!REQUIRED.every((k) => found.has(k))) return undefined;
  if (/ACK\s*$/i.test(res.get("cseq") ?? "")) return undefined;
  return res;
}

/** A reason phrase is one line of printable text. */
function sanitizeReason(reason: string): string {
  const clean = reason.replace(/[\r\n\t]+/g, " ").replace(/[^\x20-\x7e]/g, "").trim();
  return clean ? clean.slice(0, 100) : "Bad Request";
}
