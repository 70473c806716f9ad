/**
 * @module The count of open API calls (placed or held), bounded by `api.max_calls` for the
 * whole server: it lives in shared memory, so the main thread and every worker thread take
 * and give back slots of one count (`Atomics`), whichever worker holds a call.
 */
export class CallSlots {
  readonly buffer: SharedArrayBuffer;
  #open: Int32Array;

  /** A new count, or the process's count another thread made (`buffer`). */
  constructor(buffer = new SharedArrayBuffer(4)) {
    this.buffer = buffer;
    this.#open = new Int32Array(buffer);
  }

  /** Calls open now in the whole server. */
  get open(): number {
    return Atomics.load(this.#open, 0);
  }

  /** Takes `n` slots if they fit under `max`, all or none. */
  take(n: number, max: number): boolean {
    for (;;) {
      const open = Atomics.load(this.#open, 0);
      if (open + n > max) return false;
      if (Atomics.compareExchange(this.#open, 0, open, open + n) === open) return true;
    }
  }

  give(n = 1): void {
    Atomics.sub(this.#open, 0, n);
  }
}
