/**
 * @module The few fields bench/register_load.ts reads of a SIP response (status, Call-ID,
 * CSeq number, Content-Length for framing), found in its bytes without decoding it. Not part
 * of the product; no imports from src/.
 */

/**
 * What the load generator reads of a response, found in its bytes: a 200 lists every binding of the
 * AOR (4 kB with the ~65 bindings of `bench/run.ts`'s TCP phase), and decoding every read whole
 * to frame and match it with strings and patterns cost the generator ~6 µs per registration
 * where a server answers a read's requests in one write (bench/RESULTS.md, "Cost changes").
 */
export interface ResponseHead {
  status: number;
  callId: string;
  cseq: string;
  /** Bytes of the head including its blank line; the body's length is `contentLength`. */
  headLength: number;
  contentLength: number;
}

const LOWER = 0x20;
/** `name` lower-cased, as bytes, for the header scan. */
const nameBytes = (name: string) => Uint8Array.from(name, (c) => c.charCodeAt(0));
const CALL_ID_NAMES = [nameBytes("call-id"), nameBytes("i")];
const CSEQ_NAMES = [nameBytes("cseq")];
const CONTENT_LENGTH_NAMES = [nameBytes("content-length"), nameBytes("l")];

/** Whether the line at `start` is the header `name` (any case), then spaces and a colon;
 * returns where its value starts (spaces skipped) or -1. */
function headerValueAt(b: Uint8Array, start: number, end: number, names: Uint8Array[]): number {
  for (const name of names) {
    if (start + name.length >= end) continue;
    let i = 0;
    while (i < name.length && (b[start + i] | LOWER) === name[i]) i++;
    if (i < name.length) continue;
    let at = start + i;
    while (at < end && (b[at] === 32 || b[at] === 9)) at++;
    if (b[at] !== 58) continue; // ':'
    at++;
    while (at < end && (b[at] === 32 || b[at] === 9)) at++;
    return at;
  }
  return -1;
}

function ascii(b: Uint8Array, start: number, end: number): string {
  return String.fromCharCode.apply(null, b.subarray(start, end) as unknown as number[]);
}

/**
 * Reads the status, Call-ID, CSeq number and Content-Length of the response starting at
 * `from` in `b[from, to)`; undefined while its head is not all there (or it is a request).
 */
export function readHead(b: Uint8Array, from: number, to: number): ResponseHead | undefined {
  let lineStart = b.indexOf(10, from) + 1;
  if (lineStart === 0 || lineStart >= to) return undefined;
  const status = (b[from + 8] - 48) * 100 + (b[from + 9] - 48) * 10 + (b[from + 10] - 48);
  let callId = "";
  let cseq = "";
  let contentLength = 0;
  for (;;) {
    const lf = b.indexOf(10, lineStart);
    if (lf < 0 || lf >= to) return undefined;
    const end = lf > lineStart && b[lf - 1] === 13 ? lf - 1 : lf;
    if (end === lineStart) {
      const isResponse = b[from] === 83 && b[from + 1] === 73 && b[from + 2] === 80 &&
        b[from + 7] === 32; // "SIP/2.0 "
      if (!isResponse) return { status: 0, callId, cseq, headLength: lf + 1 - from, contentLength };
      return { status, callId, cseq, headLength: lf + 1 - from, contentLength };
    }
    const first = b[lineStart] | LOWER;
    if (first === 99 /* c */ || first === 105 /* i */ || first === 108 /* l */) {
      let at = headerValueAt(b, lineStart, end, CALL_ID_NAMES);
      if (at >= 0) {
        let stop = end;
        while (stop > at && (b[stop - 1] === 32 || b[stop - 1] === 9)) stop--;
        callId = ascii(b, at, stop);
      } else if ((at = headerValueAt(b, lineStart, end, CSEQ_NAMES)) >= 0) {
        let stop = at;
        while (stop < end && b[stop] >= 48 && b[stop] <= 57) stop++;
        cseq = ascii(b, at, stop);
      } else if ((at = headerValueAt(b, lineStart, end, CONTENT_LENGTH_NAMES)) >= 0) {
        contentLength = 0;
        while (at < end && b[at] >= 48 && b[at] <= 57) {
          contentLength = contentLength * 10 + b[at++] - 48;
        }
      }
    }
    lineStart = lf + 1;
  }
}
