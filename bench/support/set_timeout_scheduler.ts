/**
 * @module The transaction benchmark's baseline: a `Scheduler` with one `setTimeout` per
 * timer, the design the timer wheel (src/transaction/timers.ts) avoids. Not product code.
 */
import {
  type Clock,
  type Scheduler,
  systemClock,
  type TimerHandle,
} from "../../src/transaction/timers.ts";

/** One `setTimeout` per timer. */
export class SetTimeoutScheduler implements Scheduler {
  readonly #live = new Map<TimerHandle, ReturnType<typeof setTimeout>>();
  readonly #clock: Clock;
  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
  }
  get size(): number {
    return this.#live.size;
  }
  schedule(delayMs: number, fn: () => void): TimerHandle {
    const handle: TimerHandle = { due: this.#clock.now() + delayMs };
    const id = setTimeout(() => {
      this.#live.delete(handle);
      fn();
    }, delayMs);
    this.#live.set(handle, id);
    return handle;
  }
  cancel(handle: TimerHandle | undefined): void {
    if (!handle) return;
    const id = this.#live.get(handle);
    if (id === undefined) return;
    clearTimeout(id);
    this.#live.delete(handle);
  }
  close(): void {
    for (const id of this.#live.values()) clearTimeout(id);
    this.#live.clear();
  }
}
