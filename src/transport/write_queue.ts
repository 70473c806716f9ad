/**
 * @module The write side of a stream connection: a queue so messages never interleave, and
 * batching, since a syscall per message costs more than the copy. Shared by TCP/TLS and
 * WebSocket connections. A batch is joined in a reused scratch buffer: a fresh multi-kilobyte
 * `Uint8Array` per write (an off-heap backing store, zeroed) cost several times the copy.
 * Bytes are copied in when queued, not when written: callers pass views of shared 128 KiB
 * serialization slabs (sip/message.ts), and a queue waiting on a peer that reads slowly
 * would otherwise keep every slab a queued message lies in. On an accepted plain-TCP
 * connection a batch is written with a direct `sendto` first (stream_direct.ts).
 */
import { sendDirect } from "./stream_direct.ts";

/**
 * Unwritten bytes past which a connection reads nothing more until they are written (TCP
 * backpressure: a peer that does not read our answers cannot make us buffer them).
 */
export const READ_AHEAD_BYTES = 1024 * 1024;

/** Bytes accepted and not yet written on every queue of this isolate (stream_overload.ts). */
let queuedTotal = 0;

/** Batches up to this size (a busy read's answers) are copied into a reused scratch buffer. */
const SCRATCH_BYTES = 64 * 1024;
/** The smallest buffer a queue copies into when no scratch buffer is idle. */
const MIN_BUFFER_BYTES = 2048;
/** Scratch buffers not in use: one per queue with bytes pending or in flight, a few kept. */
const idleScratch: Uint8Array[] = [];
const IDLE_SCRATCH_MAX = 4;

/** Bytes accepted for writing on every stream connection of this isolate and not yet written. */
export function queuedWriteBytes(): number {
  return queuedTotal;
}

export class WriteQueue {
  #conn: Deno.Conn;
  #onError: () => void;
  #writing: Promise<void> = Promise.resolve();
  /** Bytes waiting for the next write (a copy: `#pending[0, #queuedBytes)`), and the promise
   * they settle with. */
  #pending: Uint8Array | undefined;
  #batch: PromiseWithResolvers<void> | undefined;
  #queuedBytes = 0;
  /** Bytes of the write in flight, and when it started (undefined when none is). */
  #inFlight = 0;
  #since: number | undefined;
  /** Held by the read loop (see `hold`); the batch a flush is scheduled for. */
  #held = false;
  #scheduled: PromiseWithResolvers<void> | undefined;
  /** An op write is in flight (what a direct send did not take). */
  #busy = false;

  /** The connection's descriptor for direct writes (stream_direct.ts), until closed. */
  #fd: number | undefined;

  /**
   * `onError` runs once a write failed (the caller closes the connection). `fd`: write on
   * this descriptor directly first (`directDescriptor`); it must be `close`d with `conn`.
   */
  constructor(conn: Deno.Conn, onError: () => void, fd?: number) {
    this.#conn = conn;
    this.#onError = onError;
    this.#fd = fd;
  }

  /** The connection is closed: its descriptor number may be another socket's from now on. */
  close(): void {
    this.#fd = undefined;
  }

  /**
   * Queues bytes. Bytes queued while a write is in flight, or in the same turn of the
   * event loop (every response to one read's requests), go out in one write. Order is
   * kept; each caller's promise settles when its batch is written or fails. `head` goes
   * right before `bytes` (a WebSocket frame's header: the payload is not copied twice).
   */
  write(bytes: Uint8Array, head?: Uint8Array): Promise<void> {
    if (head !== undefined) this.#queue(head);
    this.#queue(bytes);
    if (this.#batch) return this.#batch.promise;
    const batch = Promise.withResolvers<void>();
    // Marked handled: callers that ignore a failed keep-alive must not crash the process.
    batch.promise.catch(() => {});
    this.#batch = batch;
    if (!this.#held) this.#schedule(batch, this.#writing.then(() => this.#flush(batch)));
    return batch.promise;
  }

  /** Copies `bytes` after what is pending and counts them. */
  #queue(bytes: Uint8Array): void {
    this.#append(bytes);
    this.#queuedBytes += bytes.length;
    queuedTotal += bytes.length;
  }

  /**
   * Until `release`, what is queued waits without a flush being scheduled: the read loop
   * holds the queue while it hands up one read's messages, so their answers leave in one
   * write, started by `release` itself rather than a promise reaction later.
   */
  hold(): void {
    this.#held = true;
  }

  /** Ends `hold`: the answers queued meanwhile are written now (after a write in flight). */
  release(): void {
    this.#held = false;
    const batch = this.#batch;
    if (batch === undefined || this.#scheduled === batch) return;
    // Idle: written now (a direct send or the op's eager first write), not a turn later.
    if (this.#busy) this.#schedule(batch, this.#writing.then(() => this.#flush(batch)));
    else {
      this.#scheduled = batch;
      const rest = this.#flush(batch);
      if (rest) this.#writing = rest.catch(() => this.#onError());
    }
  }

  #schedule(batch: PromiseWithResolvers<void>, write: Promise<void>): void {
    this.#scheduled = batch;
    this.#writing = write.catch(() => this.#onError());
  }

  /** Bytes accepted and not yet written (waiting plus in flight). */
  queuedBytes(): number {
    return this.#queuedBytes + this.#inFlight;
  }

  /** Milliseconds the write in flight has been waiting for the peer; 0 when none is. */
  stalledFor(now = Date.now()): number {
    return this.#since === undefined ? 0 : now - this.#since;
  }

  /** Settles when everything queued so far is written (or failed). */
  drained(): Promise<void> {
    return this.#writing;
  }

  /**
   * Copies `bytes` after what is pending: into an idle scratch buffer while the batch fits
   * one, else a buffer of its own (small for a lone message while many queues write at once).
   */
  #append(bytes: Uint8Array): void {
    const used = this.#queuedBytes;
    const need = used + bytes.length;
    let pending = this.#pending;
    if (pending === undefined || need > pending.length) {
      let size = pending === undefined ? MIN_BUFFER_BYTES : pending.length * 2;
      while (size < need) size *= 2;
      // A batch of several messages takes a scratch buffer (kept for reuse once written).
      const scratch = size <= SCRATCH_BYTES && (idleScratch.length > 0 || pending !== undefined);
      const grown = scratch
        ? idleScratch.pop() ?? new Uint8Array(SCRATCH_BYTES)
        : new Uint8Array(size);
      if (pending !== undefined) {
        grown.set(pending.subarray(0, used), 0);
        release(pending);
      }
      this.#pending = pending = grown;
    }
    pending.set(bytes, used);
  }

  /**
   * Writes the pending batch: directly while the socket takes it all (nothing to wait for:
   * undefined), else what is left through `conn.write` (the promise of that).
   */
  #flush(batch: PromiseWithResolvers<void>): Promise<void> | undefined {
    const buffer = this.#pending!;
    const bytes = buffer.subarray(0, this.#queuedBytes);
    this.#pending = undefined;
    this.#batch = undefined;
    this.#queuedBytes = 0;
    const sent = this.#fd === undefined ? 0 : sendDirect(this.#fd, bytes);
    queuedTotal -= sent;
    if (sent === bytes.length) {
      release(buffer);
      batch.resolve();
      return undefined;
    }
    return this.#write(batch, buffer, bytes.subarray(sent));
  }

  /** Writes `bytes` (the rest of `buffer`'s batch) through the op, waiting for the peer. */
  async #write(
    batch: PromiseWithResolvers<void>,
    buffer: Uint8Array,
    bytes: Uint8Array,
  ): Promise<void> {
    this.#busy = true;
    this.#inFlight = bytes.length;
    this.#since = Date.now();
    try {
      let off = 0;
      while (off < bytes.length) {
        const n = await this.#conn.write(bytes.subarray(off));
        off += n;
        this.#inFlight -= n;
        queuedTotal -= n;
      }
      batch.resolve();
    } catch (error) {
      batch.reject(error);
      throw error;
    } finally {
      queuedTotal -= this.#inFlight; // a failed write's rest
      this.#inFlight = 0;
      this.#since = undefined;
      this.#busy = false;
      // The write op has settled: nothing reads the buffer any more.
      release(buffer);
    }
  }
}

/** A buffer no write reads any more: kept for reuse when it is a scratch buffer. */
function release(buffer: Uint8Array): void {
  if (buffer.length === SCRATCH_BYTES && idleScratch.length < IDLE_SCRATCH_MAX) {
    idleScratch.push(buffer);
  }
}
