/**
 * @module A one-way channel between the main thread and one worker thread: a single-producer,
 * single-consumer ring of records in a `SharedArrayBuffer`. Unlike `postMessage`, writing a
 * record wakes the worker only when it sleeps (`Atomics.notify`), so under load a datagram
 * handed over costs a copy, not a thread wake-up. Records are a UDP datagram (its source
 * and bytes) or any other message in binary form (ring_codec.ts); one ring keeps their order.
 * Workers answer through a ring of their own, read by the main thread. A worker's inbound
 * ring has several writers (the main thread and the other workers, which hand it the
 * messages of its calls directly): a writer holds a lock in the ring while it copies a record.
 */

const HEAD = 0;
const TAIL = 1;
const SLEEPING = 2;
/** 1 while a writer copies a record in (a ring may have several writers). */
const LOCK = 3;
/** Spins before a writer waiting for the lock sleeps (the holder copies one record). */
const SPINS = 200;
const HEADER_BYTES = 16;
const WRAP = 0xffffffff;
const DATAGRAM = 1;
const MESSAGE = 2;
const EMPTY = new Uint8Array(0);
/** Longest a record written without a wake-up waits for its sleeping reader. */
export const LAZY_MS = 20;
/** Ring capacity: a few thousand messages; past it the producer queues in memory. */
export const RING_BYTES = 4 * 1024 * 1024;

import { setImmediate } from "node:timers";
import { Decoder, Encoder } from "./ring_codec.ts";
import { copyToSlab } from "../sip/slab.ts";

function align(n: number): number {
  return (n + 3) & ~3;
}

/** A message as it crosses: a datagram, or any message (in binary form: ring_codec.ts). */
export type RingRecord<M extends object> =
  | { kind: "datagram"; host: string; port: number; bytes: Uint8Array }
  | { kind: "message"; message: M };

class RingView {
  protected readonly header: Int32Array;
  protected readonly data: Uint8Array;
  protected readonly view: DataView;
  protected readonly size: number;

  constructor(buffer: SharedArrayBuffer) {
    this.header = new Int32Array(buffer, 0, 4);
    this.data = new Uint8Array(buffer, HEADER_BYTES);
    this.view = new DataView(buffer, HEADER_BYTES);
    this.size = this.data.length;
  }
}

export class RingWriter<M extends object> extends RingView {
  /** Records that did not fit, written first once there is room (order is kept). */
  #backlog: RingRecord<M>[] = [];
  readonly #encoder = new Encoder();
  #retry?: ReturnType<typeof setTimeout>;

  static create<M extends object>(): { writer: RingWriter<M>; buffer: SharedArrayBuffer } {
    const buffer = new SharedArrayBuffer(HEADER_BYTES + RING_BYTES);
    return { writer: new RingWriter<M>(buffer), buffer };
  }

  /**
   * True while records wait in memory because the ring is full: its worker is thousands of
   * messages behind (new work is then shed, transport/layer.ts, so the backlog stops growing).
   */
  get backlogged(): boolean {
    return this.#backlog.length > 0;
  }

  /**
   * Writes `record`; `wake: false` leaves a sleeping reader asleep (a change it needs only
   * before it reads its copies, or within `LAZY_MS`: the reader drains before each message
   * it reads from the network, and this writer wakes it `LAZY_MS` later), sparing a wake-up
   * per record. A wake-up is sent once the writer's current run of JavaScript ends (a
   * microtask: the main thread's handling of a batch of datagrams, a worker's drain of its
   * ring), not at once: a reader woken by the first record of a batch drained it alone and
   * slept again before the next, woken as often as the batch held records for it, each
   * wake-up taking a core from the writer or sipp (bench/workers_calls.ts counts them).
   */
  write(record: RingRecord<M>, wake = true): void {
    if (this.#backlog.length > 0 || !this.#put(record)) this.#queue(record);
    else if (!wake) this.#lazy ??= setTimeout(this.#wakeLazily, LAZY_MS);
    else if (!this.#wakeQueued) {
      this.#wakeQueued = true;
      queueMicrotask(this.#wakeLater);
    }
  }

  /**
   * A record written without a wake-up reaches a sleeping reader within `LAZY_MS`: one timer
   * here, armed by the first such record since it last fired, rather than a timer in every
   * reader firing whether or not anything waits (which woke an idle thread 50 times a second).
   */
  #lazy?: ReturnType<typeof setTimeout>;
  readonly #wakeLazily = () => {
    this.#lazy = undefined;
    this.#wake();
  };

  #wakeQueued = false;
  readonly #wakeLater = () => {
    this.#wakeQueued = false;
    this.#wake();
  };

  #queue(record: RingRecord<M>): void {
    this.#backlog.push(record);
    this.#retry ??= setTimeout(() => this.#drainBacklog(), 1);
  }

  #drainBacklog(): void {
    this.#retry = undefined;
    while (this.#backlog.length > 0 && this.#put(this.#backlog[0])) this.#backlog.shift();
    this.#wake();
    if (this.#backlog.length > 0) this.#retry = setTimeout(() => this.#drainBacklog(), 1);
  }

  close(): void {
    clearTimeout(this.#retry);
    clearTimeout(this.#lazy);
    this.#lazy = undefined;
  }

  #wake(): void {
    if (Atomics.load(this.header, SLEEPING) === 1) Atomics.notify(this.header, HEAD);
  }

  /** Writes one record under the writers' lock; false when the ring has no room for it now. */
  #put(record: RingRecord<M>): boolean {
    for (let spins = 0; Atomics.compareExchange(this.header, LOCK, 0, 1) !== 0; spins++) {
      if (spins >= SPINS) Atomics.wait(this.header, LOCK, 1, 1);
    }
    try {
      return this.#copy(record);
    } finally {
      Atomics.store(this.header, LOCK, 0);
      Atomics.notify(this.header, LOCK, 1);
    }
  }

  #copy(record: RingRecord<M>): boolean {
    // A datagram's head (kind, host length, port, host) is written in place; its host is
    // an IP literal (a socket's peer), one byte a character.
    const datagram = record.kind === "datagram";
    const host = datagram ? record.host : "";
    const head = datagram ? undefined : this.#encoder.encode(MESSAGE, record.message);
    const headLength = head ? head.length : 4 + host.length;
    const body = datagram ? record.bytes : EMPTY;
    const need = align(8 + headLength + body.length);
    if (need + 4 > this.size) throw new Error("message larger than the ring");
    let at = Atomics.load(this.header, HEAD);
    const tail = Atomics.load(this.header, TAIL);
    if (at >= tail) {
      if (this.size - at < need) {
        if (tail <= need) return false; // must not catch up with the reader at 0
        if (this.size - at >= 4) this.view.setUint32(at, WRAP);
        at = 0;
      }
    } else if (tail - at <= need) return false;
    this.view.setUint32(at, need);
    this.view.setUint32(at + 4, body.length);
    const start = at + 8;
    if (head) this.data.set(head, start);
    else {
      this.data[start] = DATAGRAM;
      this.data[start + 1] = host.length;
      this.view.setUint16(start + 2, (record as { port: number }).port);
      for (let i = 0; i < host.length; i++) this.data[start + 4 + i] = host.charCodeAt(i);
      this.data.set(body, start + headLength);
    }
    Atomics.store(this.header, HEAD, at + need === this.size ? 0 : at + need);
    return true;
  }
}

/**
 * Yields to the event loop between two drains of a ring, so I/O and timers run. Not
 * `setTimeout(0)`: chained timeouts are clamped to 4 ms (the HTML nesting rule), which held
 * every record crossing threads under steady traffic for up to that long.
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class RingReader<M extends object> extends RingView {
  readonly #decoder = new Decoder(this.data, this.view);

  /** Reads every record written so far; false when there was none. */
  drain(handle: (record: RingRecord<M>) => void): boolean {
    let tail = Atomics.load(this.header, TAIL);
    const head = Atomics.load(this.header, HEAD);
    if (tail === head) return false;
    while (tail !== head) {
      if (this.size - tail < 4 || this.view.getUint32(tail) === WRAP) {
        tail = 0;
        continue;
      }
      const length = this.view.getUint32(tail);
      const bodyLength = this.view.getUint32(tail + 4);
      const start = tail + 8;
      const end = tail + length;
      tail = end === this.size ? 0 : end;
      const kind = this.data[start];
      if (kind === DATAGRAM) {
        const hostLength = this.data[start + 1];
        const port = this.view.getUint16(start + 2);
        const host = this.#decoder.ascii(start + 4, hostLength);
        const bytesAt = start + 4 + hostLength;
        // Into a slab, as the UDP read loop copies a datagram (sip/slab.ts): an ArrayBuffer
        // of its own per datagram (`slice`) cost the reader more than the copy.
        handle({
          kind: "datagram",
          host,
          port,
          bytes: copyToSlab(this.data.subarray(bytesAt, bytesAt + bodyLength)),
        });
      } else {
        handle({ kind: "message", message: this.#decoder.decode(start + 1) as M });
      }
      Atomics.store(this.header, TAIL, tail);
    }
    return true;
  }

  /**
   * Waits until a record is written, or at most `timeoutMs` (sleeping, so the writer wakes
   * it); false when records were there already (it did not sleep).
   */
  async wait(timeoutMs = Infinity): Promise<boolean> {
    const tail = Atomics.load(this.header, TAIL);
    Atomics.store(this.header, SLEEPING, 1);
    const head = Atomics.load(this.header, HEAD);
    let slept = false;
    if (head === tail) {
      const waited = Atomics.waitAsync(this.header, HEAD, head, timeoutMs);
      if (waited.async) {
        slept = true;
        await waited.value;
      }
    }
    Atomics.store(this.header, SLEEPING, 0);
    return slept;
  }

  /** Ends a `wait` under way at once (its reading loop stops). */
  release(): void {
    Atomics.notify(this.header, HEAD);
  }
}

/**
 * Calls `drain` (which applies what `reader`'s ring holds; true when it held something) as
 * records are written, until the function returned is called. It sleeps with no timeout: an
 * `Atomics.waitAsync` with one cost the woken thread about 8 µs more per wake-up (15 against
 * 23-25 µs, bench/RESULTS.md "Cost changes"), and a thread handed one datagram at a time
 * wakes for each. Records written without a wake-up wake it `LAZY_MS` later (the writer's
 * timer, `RingWriter.write`), when it has not read them meanwhile.
 */
export function readLoop(reader: RingReader<object>, drain: () => boolean): () => void {
  let running = true;
  void (async () => {
    while (running) {
      drain();
      // Records written while it drained: let I/O and timers run before the next drain.
      if (!await reader.wait()) await nextTurn();
    }
  })();
  return () => {
    running = false;
    reader.release();
  };
}
