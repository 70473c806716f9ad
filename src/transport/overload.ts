/**
 * @module Overload shedding for UDP: past its limit a server must not spend its time on work
 * it cannot finish. The signal is the kernel's receive queue of the UDP socket (exactly "how
 * far behind we are": SO_MEMINFO's receive allocation through libc, one syscall; rx_queue of
 * /proc/net/udp{,6} without FFI), sampled every 16 datagrams read (one batch of the read
 * loop: admission follows the queue closely) and every 50 ms (to calm down once the load is
 * gone). The queue is deep from half full, or from 256 KiB in a larger buffer (the rest is
 * headroom for stalls). Overload is declared once it has stayed deep for 250 ms (a GC pause
 * or a busy machine's scheduling delay is not overload; an offered rate above capacity keeps
 * the queue deep), or for a second when it is draining (well below its peak). From then on, until the queue has stayed at most a fifth that deep for
 * 100 ms, each sample decides: with the queue deep, requests that start new work (REGISTER,
 * INVITE, OPTIONS, MESSAGE, SUBSCRIBE, PUBLISH without credentials) are refused before
 * parsing, with 503 + Retry-After, or dropped (cheaper) from 90 % full or twice that deep
 * (refusing is not keeping up); below that they are admitted. So the queue hovers well below
 * full and the kernel, which drops blindly, never has to: requests carrying credentials (the
 * second leg of a started digest exchange), in-dialog requests and responses always go
 * through, and what was started completes. Dropping for 100 ms on end, or 2 MiB queued, means
 * a rate several times what the server can do: the receive buffer is then cut to 512 KiB, so
 * the kernel drops the excess for free instead of sipws reading it, until overload is over.
 * (Shedding all new work until the queue had emptied, then admitting all of it until the queue
 * had been deep for another 250 ms, let every burst overflow the queue and lose second legs.)
 * The 503 is built from the request's raw header lines (`refusal503`), not a parse. Linux
 * only; elsewhere nothing is ever shed.
 */

/** Nothing shed. */
export const CALM: number = 0;
/** New work refused with 503. */
export const REFUSE: number = 1;
/** New work dropped unanswered (the 503s would only add to the backlog). */
export const DROP: number = 2;

import { openLibc, udpDescriptor } from "./socket_options.ts";
import { nextLf, wordsOf } from "../sip/scan.ts";

const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
/** Dropping this long: refusing does not keep up; the kernel may drop the rest for free. */
const CUT_AFTER_MS = 100;
/**
 * A queue this deep while declared (a stall of 30 ms at 2x the rate, 1,600 sipp REGISTERs):
 * the server is starved, not pausing; the kernel may drop the rest for free.
 */
const CUT_FROM = 2 * 1024 * 1024;
/** The receive buffer while cut, as the kernel reports it (twice what is asked). */
const SMALL_BUFFER = 512 * 1024;
const SO_MEMINFO = 55;
/** SK_MEMINFO_VARS u32 values; [0] is SK_MEMINFO_RMEM_ALLOC, the bytes queued to read. */
const MEMINFO_BYTES = 9 * 4;

/** How long the queue must stay half full before overload is declared. */
const SUSTAINED_MS = 250;
/**
 * A deep queue below this share of its peak since it got deep is draining: overload is then
 * declared only once it has been deep for DRAIN_WAIT_MS. (The first 25,000/s REGISTER step
 * of a fresh process refused 630-770 registrations on a backlog that was already going:
 * the code was being compiled, not overloaded.) An offered rate above capacity fills the
 * queue to the brim and keeps it there, so it is declared at SUSTAINED_MS as before.
 */
const DRAINING_BELOW = 0.9;
const DRAIN_WAIT_MS = 1000;
/**
 * Once declared, overload lasts until the queue has stayed at most a tenth full this long: a
 * rate above capacity refills it within milliseconds as soon as new work is admitted, a
 * passing backlog (a GC pause, a scheduling delay) leaves it empty.
 */
const CALM_MS = 100;
/**
 * Queue depth from which the server is behind, however large the buffer: about 200 sipp
 * REGISTERs as the kernel counts them (~1.3 kB each), a few ms of work. A larger buffer
 * (`udp_receive_buffer`) absorbs a GC pause or a descheduled thread at 2x the rate without
 * the kernel dropping second legs blindly, whose retransmissions came back up to 1.5 s later.
 */
const BEHIND_BYTES = 256 * 1024;
/** Datagrams read between two samples of the queue. */
const SAMPLE_EVERY = 16;

export class ReceiveQueueWatch {
  #level = CALM;
  #datagrams = 0;
  /** When the queue was last seen crossing half full (NaN: not deep now). */
  #deepSince = NaN;
  /** The deepest the queue has been since `#deepSince`. */
  #deepPeak = 0;
  /** Overload declared: samples decide admission. */
  #overloaded = false;
  /** Since when the queue has been at most a tenth full (NaN: it is not). */
  #calmSince = NaN;
  /** The socket's descriptor when libc is reachable (SO_MEMINFO), else -1 (/proc). */
  readonly #fd: number;
  readonly #meminfo = new Uint32Array(MEMINFO_BYTES / 4);
  readonly #meminfoBytes = new Uint8Array(this.#meminfo.buffer);
  readonly #length = new Uint32Array([MEMINFO_BYTES]);
  readonly #lengthBytes = new Uint8Array(this.#length.buffer);
  readonly #timer: ReturnType<typeof setInterval> | undefined;
  readonly #table: string;
  readonly #portHex: string;
  readonly #high: number;
  readonly #low: number;
  readonly #dropFrom: number;
  readonly #bufferBytes: number;
  /** Since when new work has been dropped (NaN: it is not). */
  #droppingSince = NaN;
  /** The receive buffer was cut to SMALL_BUFFER: the kernel drops the excess for free. */
  #cut = false;

  /**
   * `bufferBytes`: the socket's receive buffer as the kernel reports it (SO_RCVBUF); `fd`:
   * the socket's descriptor, when several sockets share the port (udp_reuseport.ts).
   */
  constructor(host: string, port: number, bufferBytes: number, everyMs = 50, fd?: number) {
    this.#table = host.includes(":") ? "/proc/net/udp6" : "/proc/net/udp";
    this.#portHex = ":" + port.toString(16).toUpperCase().padStart(4, "0") + " ";
    // Half full, or BEHIND_BYTES of a larger buffer: the server is behind. Past that, the
    // buffer is headroom for a stall, not a longer queue to serve late.
    this.#high = Math.min(bufferBytes / 2, BEHIND_BYTES);
    // Nearly full, or twice behind in a larger buffer: refusing does not keep up (the kernel
    // is about to drop blindly, or the 503s would take all the time left); a drop costs us
    // only its read. (Shedding from a quarter and dropping from half full shed so much that a
    // 2x REGISTER storm kept 0.40-0.45 of capacity, against 0.72-0.81 with these levels in a
    // 512 KiB buffer: bench/RESULTS.md.)
    this.#dropFrom = Math.min(bufferBytes * 0.9, 2 * this.#high);
    this.#low = this.#high / 5;
    this.#bufferBytes = bufferBytes;
    this.#fd = -1;
    if (Deno.build.os !== "linux") return;
    this.#fd = openLibc() ? fd ?? udpDescriptor(port, host) ?? -1 : -1;
    const timer = setInterval(() => this.#sample(), everyMs);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  /** CALM, REFUSE or DROP, as of the last sample. */
  get level(): number {
    return this.#level;
  }

  /** One datagram was read: every SAMPLE_EVERY-th samples the queue. */
  counted(): void {
    if (++this.#datagrams < SAMPLE_EVERY) return;
    this.#datagrams = 0;
    this.#sample();
  }

  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
  }

  #sample(): void {
    const queued = this.#queued();
    if (queued !== undefined) this.update(queued, performance.now());
  }

  /** Takes the queue's depth `queued` (bytes) sampled at `now` (performance.now()). */
  update(queued: number, now: number): void {
    if (queued < this.#high) this.#deepSince = NaN;
    else if (Number.isNaN(this.#deepSince)) {
      this.#deepSince = now;
      this.#deepPeak = queued;
    } else {
      this.#deepPeak = Math.max(this.#deepPeak, queued);
      const deepFor = now - this.#deepSince;
      // Draining (well below its peak): the backlog of a pause, or of code not yet compiled
      // in a fresh process, is going; only if it takes this long is it overload after all.
      const draining = queued < this.#deepPeak * DRAINING_BELOW;
      if (deepFor >= (draining ? DRAIN_WAIT_MS : SUSTAINED_MS)) this.#overloaded = true;
    }
    if (queued > this.#low) this.#calmSince = NaN;
    else if (Number.isNaN(this.#calmSince)) this.#calmSince = now;
    else if (now - this.#calmSince >= CALM_MS) this.#overloaded = false;
    if (!this.#overloaded || queued < this.#high) this.#level = CALM;
    // Nearly full while declared: a drop costs a read where a 503 costs its sendto too (about
    // 3× as much in the overload bench), and no 503s pile up at a client already behind.
    else this.#level = queued >= this.#dropFrom ? DROP : REFUSE;
    if (this.#level !== DROP) this.#droppingSince = NaN;
    else if (Number.isNaN(this.#droppingSince)) this.#droppingSince = now;
    else if (now - this.#droppingSince >= CUT_AFTER_MS) this.#resize(true);
    if (this.#overloaded && queued >= CUT_FROM) this.#resize(true);
    if (!this.#overloaded) this.#resize(false);
  }

  /** Cuts the receive buffer to SMALL_BUFFER, or gives it back its size. */
  #resize(cut: boolean): void {
    if (cut === this.#cut || this.#fd < 0 || this.#bufferBytes <= SMALL_BUFFER) return;
    this.#cut = cut;
    const asked = new Int32Array([(cut ? SMALL_BUFFER : this.#bufferBytes) / 2]);
    openLibc()!.setsockopt(this.#fd, SOL_SOCKET, SO_RCVBUF, new Uint8Array(asked.buffer), 4);
  }

  /** Bytes waiting in the receive queue of the socket bound to our port. */
  #queued(): number | undefined {
    if (this.#fd >= 0) {
      this.#length[0] = MEMINFO_BYTES;
      const ok = openLibc()!.getsockopt(
        this.#fd,
        SOL_SOCKET,
        SO_MEMINFO,
        this.#meminfoBytes,
        this.#lengthBytes,
      );
      if (ok === 0) return this.#meminfo[0];
    }
    let text: string;
    try {
      text = Deno.readTextFileSync(this.#table);
    } catch {
      return undefined;
    }
    const at = text.indexOf(this.#portHex);
    if (at < 0) return undefined;
    // "  sl  local_address rem_address   st tx_queue:rx_queue ..."
    const fields = text.slice(at, text.indexOf("\n", at)).trim().split(/\s+/);
    const rx = fields[3]?.split(":")[1];
    return rx === undefined ? undefined : parseInt(rx, 16);
  }
}

/**
 * True for a request that starts new work: REGISTER, INVITE, OPTIONS, MESSAGE, SUBSCRIBE or
 * PUBLISH without an Authorization or Proxy-Authorization header, outside a dialog (its To
 * has no tag: a re-INVITE or a SUBSCRIBE refresh belongs to a call or subscription already
 * set up). Looks at the raw bytes only, jumping from line to line (LF found a word at a time,
 * sip/scan.ts) and reading a line only when its first letter could name one of those headers.
 */
export function startsNewWork(bytes: Uint8Array): boolean {
  if (!newWorkMethod(bytes)) return false;
  const length = bytes.length;
  const words = wordsOf(bytes);
  let lf = nextLf(bytes, words, 0, length);
  while (lf < length) {
    const at = lf + 1; // a header line starts after LF
    if (at >= length) break;
    const first = bytes[at];
    if (first === 13 || first === 10) break; // end of the head
    lf = nextLf(bytes, words, at, length);
    const lower = first | 0x20;
    if (lower === 97 /* a */ || lower === 112 /* p */) {
      if (lineIs(bytes, at, "authorization") || lineIs(bytes, at, "proxy-authorization")) {
        return false;
      }
    } else if (lower === 116 /* t */ && (lineIs(bytes, at, "to") || lineIs(bytes, at, "t"))) {
      if (hasTag(bytes, at, lf)) return false;
    }
  }
  return true;
}

/** The request line starts with one of the new-work methods and a space. */
function newWorkMethod(bytes: Uint8Array): boolean {
  switch (bytes[0]) {
    case 82: // R
      return startsWith(bytes, "REGISTER ");
    case 73: // I
      return startsWith(bytes, "INVITE ");
    case 79: // O
      return startsWith(bytes, "OPTIONS ");
    case 77: // M
      return startsWith(bytes, "MESSAGE ");
    case 83: // S
      return startsWith(bytes, "SUBSCRIBE ");
    case 80: // P
      return startsWith(bytes, "PUBLISH ");
  }
  return false;
}

/** `bytes` start with `text`, whose first byte the caller has matched already. */
function startsWith(bytes: Uint8Array, text: string): boolean {
  if (bytes.length < text.length) return false;
  for (let i = 1; i < text.length; i++) if (bytes[i] !== text.charCodeAt(i)) return false;
  return true;
}

/** The line at `at` is the header `name` (any case), followed by optional blanks and ":". */
function lineIs(bytes: Uint8Array, at: number, name: string): boolean {
  if (at + name.length >= bytes.length) return false;
  for (let i = 0; i < name.length; i++) {
    if ((bytes[at + i] | 0x20) !== name.charCodeAt(i)) return false;
  }
  let j = at + name.length;
  while (bytes[j] === 32 || bytes[j] === 9) j++;
  return bytes[j] === 58;
}

const STATUS_LINE = new TextEncoder().encode("SIP/2.0 503 Service Unavailable\r\n");
const TAIL = new TextEncoder().encode("Retry-After: 2\r\nContent-Length: 0\r\n\r\n");
const TO_TAG = new TextEncoder().encode(";tag=shed503");
/** Headers a response copies from its request, as bits of `found` (headerKind). */
const VIA = 0;
const FROM = 1;
const TO = 2;
const CALL_ID = 3;
const CSEQ = 4;
const ALL_FOUND = 0b11111;
/**
 * Where refusals are built: one buffer for all, so a refusal allocates only its own bytes
 * (a fresh, zeroed block twice the request's size each was ~0.3 µs of a 1.5 µs refusal).
 */
let scratch = new Uint8Array(4096);

/**
 * The wire bytes of `503 Service Unavailable` + `Retry-After` for the request `bytes`, built
 * from its raw header lines (every Via, From, To with a tag added when it has none, Call-ID,
 * CSeq) without parsing it: a refusal must cost a small part of what serving would.
 * Undefined when one of those headers is missing (nothing to answer to: it is dropped).
 */
export function refusal503(bytes: Uint8Array): Uint8Array | undefined {
  // Room for every line copied with CRLF where the request had a bare LF.
  const room = 2 * bytes.length + STATUS_LINE.length + TAIL.length + TO_TAG.length;
  if (scratch.length < room) scratch = new Uint8Array(room);
  const out = scratch;
  out.set(STATUS_LINE);
  let n = STATUS_LINE.length;
  let found = 0;
  let copying = -1;
  const length = bytes.length;
  const words = wordsOf(bytes);
  let at = nextLf(bytes, words, 0, length) + 1; // after the request line
  while (at < length) {
    const end = nextLf(bytes, words, at, length);
    const lineEnd = end > at && bytes[end - 1] === 13 ? end - 1 : end;
    if (lineEnd === at) break; // the empty line: end of the head
    const folded = bytes[at] === 32 || bytes[at] === 9;
    const kind = folded ? copying : headerKind(bytes, at);
    // One of each but Via; a folded line goes with the header it continues.
    if (kind >= 0 && (folded || kind === VIA || (found & (1 << kind)) === 0)) {
      for (let i = at; i < lineEnd; i++) out[n++] = bytes[i];
      if (!folded && kind === TO && !hasTag(bytes, at, lineEnd)) {
        out.set(TO_TAG, n);
        n += TO_TAG.length;
      }
      out[n++] = 13;
      out[n++] = 10;
      found |= 1 << kind;
      copying = kind;
    } else copying = -1;
    at = end + 1;
  }
  if (found !== ALL_FOUND) return undefined;
  out.set(TAIL, n);
  return out.slice(0, n + TAIL.length);
}

/**
 * VIA, FROM, TO, CALL_ID or CSEQ for the header line at `at` (long or compact name, any
 * case), else -1. The first letter rules out most lines at once.
 */
function headerKind(bytes: Uint8Array, at: number): number {
  switch (bytes[at] | 0x20) {
    case 118: // v
      return lineIs(bytes, at, "via") || lineIs(bytes, at, "v") ? VIA : -1;
    case 102: // f
      return lineIs(bytes, at, "from") || lineIs(bytes, at, "f") ? FROM : -1;
    case 116: // t
      return lineIs(bytes, at, "to") || lineIs(bytes, at, "t") ? TO : -1;
    case 99: // c
      return lineIs(bytes, at, "call-id") ? CALL_ID : lineIs(bytes, at, "cseq") ? CSEQ : -1;
    case 105: // i
      return lineIs(bytes, at, "i") ? CALL_ID : -1;
  }
  return -1;
}

/** The To line [at, end) has a `tag` parameter (after the URI's closing `>` when bracketed). */
function hasTag(bytes: Uint8Array, at: number, end: number): boolean {
  let from = at;
  for (let i = at; i < end; i++) if (bytes[i] === 62) from = i; // ">"
  for (let i = from; i + 4 <= end; i++) {
    if (
      bytes[i] === 59 && (bytes[i + 1] | 0x20) === 116 && (bytes[i + 2] | 0x20) === 97 &&
      (bytes[i + 3] | 0x20) === 103
    ) return true; // ";tag"
  }
  return false;
}
