/**
 * @module The fixed-delay end of a transaction's final state (RFC 3261 §17 Timers D, H, I, K
 * and RFC 6026 Timers L, M): each has one delay for the whole layer, so what lingers ends in
 * the order it began. A `LingerQueue` holds them in that order and runs one timer, for its
 * head, instead of one timer object and one closure per transaction (which outlived the
 * transaction's messages by 64·T1 and were most of what a finished call kept).
 */
import type { Scheduler, TimerHandle } from "./timers.ts";

/** What lingers: told when the queue's delay has passed since it was added. */
export interface Lingering {
  /** The queue's delay ran out; `state` is the state it was added in (ignore if left). */
  lingerEnded(state: string): void;
}

/** Drops spent slots once at least this many lead the arrays (and half of them). */
const COMPACT_AT = 1024;

export class LingerQueue {
  readonly #scheduler: Scheduler;
  readonly #now: () => number;
  readonly #delay: number;
  readonly #state: string;
  readonly #onError: (error: unknown) => void;
  #items: (Lingering | undefined)[] = [];
  #dues: number[] = [];
  #head = 0;
  #timer: TimerHandle | undefined;

  /** `state`: the state whose end this queue times (passed back to `lingerEnded`). */
  constructor(
    scheduler: Scheduler,
    now: () => number,
    delay: number,
    state: string,
    onError: (error: unknown) => void,
  ) {
    this.#scheduler = scheduler;
    this.#now = now;
    this.#delay = delay;
    this.#state = state;
    this.#onError = onError;
  }

  get size(): number {
    return this.#items.length - this.#head;
  }

  /** `item` ends after the queue's delay, from now. */
  add(item: Lingering): void {
    this.#items.push(item);
    this.#dues.push(this.#now() + this.#delay);
    if (this.#timer === undefined) this.#arm();
  }

  /** Forgets everything (shutdown); nothing is told. */
  clear(): void {
    this.#scheduler.cancel(this.#timer);
    this.#timer = undefined;
    this.#items = [];
    this.#dues = [];
    this.#head = 0;
  }

  #arm(): void {
    const delay = Math.max(0, this.#dues[this.#head] - this.#now());
    this.#timer = this.#scheduler.schedule(delay, this.#fire);
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    const now = this.#now();
    while (this.#head < this.#items.length && this.#dues[this.#head] <= now) {
      const item = this.#items[this.#head]!;
      this.#items[this.#head++] = undefined;
      try {
        item.lingerEnded(this.#state);
      } catch (error) {
        this.#onError(error);
      }
    }
    if (this.#head >= COMPACT_AT && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#dues = this.#dues.slice(this.#head);
      this.#head = 0;
    }
    // An item may have added to this queue while it was told (the timer is then armed).
    if (this.#head < this.#items.length) {
      if (this.#timer === undefined) this.#arm();
    } else if (this.#head > 0) {
      this.#items = [];
      this.#dues = [];
      this.#head = 0;
    }
  };
}
