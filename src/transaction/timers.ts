/**
 * @module Time for the transaction layer: the injectable `Clock`, a manual clock for tests
 * (`advance(ms)`), the timer wheel that drives every transaction timer from one
 * `setTimeout`, and the RFC 3261 §17 / Table 4 timer values derived from T1, T2 and T4
 * (A–K, plus L and M from RFC 6026). It knows nothing about SIP messages and must not
 * import from any layer.
 */

/** Milliseconds, monotonic enough for timers. */
export interface Clock {
  now(): number;
}

/** A clock that moves only when told and notifies whoever drives timers from it. */
export interface DrivenClock extends Clock {
  /** Registers a callback run at every step of `advance`; returns an unsubscribe function. */
  attach(onTime: (now: number) => void): () => void;
}

export const systemClock: Clock = { now: () => performance.now() };

function isDriven(clock: Clock): clock is DrivenClock {
  return typeof (clock as Partial<DrivenClock>).attach === "function";
}

/**
 * Test clock: time stands still until `advance(ms)`, which walks forward one millisecond at a
 * time so timers scheduled by a firing timer fire in the same call when they fall due.
 */
export class ManualClock implements DrivenClock {
  #now: number;
  #listeners = new Set<(now: number) => void>();
  constructor(start = 0) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  attach(onTime: (now: number) => void): () => void {
    this.#listeners.add(onTime);
    return () => this.#listeners.delete(onTime);
  }
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`advance(${ms}): ms must be >= 0`);
    const target = this.#now + ms;
    while (this.#now < target) {
      this.#now = Math.min(target, Math.floor(this.#now) + 1);
      for (const l of this.#listeners) l(this.#now);
    }
  }
}

/** An opaque scheduled timer. */
export interface TimerHandle {
  readonly due: number;
}

/** What the transactions need from a timer service. */
export interface Scheduler {
  /** Runs `fn` once after `delayMs` (never synchronously). */
  schedule(delayMs: number, fn: () => void): TimerHandle;
  /** Cancels a timer; a no-op when it already fired or was cancelled. */
  cancel(handle: TimerHandle | undefined): void;
  /** Live timers. */
  readonly size: number;
  /** Cancels every timer and stops the driver. */
  close(): void;
}

class WheelTimer implements TimerHandle {
  due: number;
  dueTick: number;
  fn: (() => void) | undefined;
  prev: WheelTimer | undefined;
  next: WheelTimer | undefined;
  slot = -1;
  constructor(due: number, dueTick: number, fn: () => void) {
    this.due = due;
    this.dueTick = dueTick;
    this.fn = fn;
  }
}

export interface TimerWheelOptions {
  clock?: Clock;
  /** Resolution: a timer fires at the first tick at or after its due time. Default 10 ms. */
  tickMs?: number;
  /** Slots per revolution (power of two). Default 1024 (10.24 s at 10 ms ticks). */
  slots?: number;
  /** Called with any exception a timer callback throws (the wheel keeps running). */
  onError?: (error: unknown) => void;
}

/**
 * Hashed timing wheel (Varghese & Lauck): timers live in intrusive doubly-linked lists, one
 * per slot, so schedule and cancel are O(1) and allocate one small object; a timer longer
 * than one revolution stays in its slot and is skipped until its tick comes round. One
 * `setTimeout` (unref'd) is armed for the next non-empty slot while timers exist; with a
 * `DrivenClock` the wheel has no real timer at all and follows the clock's `advance`.
 */
export class TimerWheel implements Scheduler {
  readonly #clock: Clock;
  readonly #tick: number;
  readonly #mask: number;
  readonly #heads: (WheelTimer | undefined)[];
  readonly #onError: (error: unknown) => void;
  #size = 0;
  /** Last tick whose slot has been processed. */
  #current: number;
  #timeoutId: ReturnType<typeof setTimeout> | undefined;
  #armedFor = Infinity;
  #detach: (() => void) | undefined;
  #closed = false;

  constructor(options: TimerWheelOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#tick = options.tickMs ?? 10;
    const slots = options.slots ?? 1024;
    if (slots & (slots - 1) || slots < 2) throw new RangeError("slots must be a power of two");
    if (!(this.#tick > 0)) throw new RangeError("tickMs must be > 0");
    this.#mask = slots - 1;
    this.#heads = new Array(slots).fill(undefined);
    this.#onError = options.onError ?? ((e) => console.error("timer callback failed:", e));
    this.#current = Math.floor(this.#clock.now() / this.#tick);
    const clock = this.#clock;
    if (isDriven(clock)) this.#detach = clock.attach((now) => this.advanceTo(now));
  }

  get size(): number {
    return this.#size;
  }

  schedule(delayMs: number, fn: () => void): TimerHandle {
    if (this.#closed) throw new Error("TimerWheel is closed");
    const now = this.#clock.now();
    // An empty wheel has nothing to process: skip the idle ticks instead of walking them.
    if (this.#size === 0) this.#current = Math.max(this.#current, Math.floor(now / this.#tick));
    const due = now + Math.max(0, delayMs);
    let dueTick = Math.ceil(due / this.#tick);
    // Never into the slot being (or already) processed: it fires on the next tick.
    if (dueTick <= this.#current) dueTick = this.#current + 1;
    const timer = new WheelTimer(due, dueTick, fn);
    this.#link(timer);
    this.#size++;
    if (this.#detach === undefined) this.#arm();
    return timer;
  }

  cancel(handle: TimerHandle | undefined): void {
    if (!(handle instanceof WheelTimer) || handle.fn === undefined) return;
    this.#unlink(handle);
    handle.fn = undefined;
    this.#size--;
    if (this.#size === 0) this.#disarm();
  }

  /** Processes every tick up to `now` (the driver calls this; tests may call it directly). */
  advanceTo(now: number): void {
    const last = Math.floor(now / this.#tick);
    while (this.#current < last && this.#size > 0) {
      const tick = ++this.#current;
      const slot = tick & this.#mask;
      let timer = this.#heads[slot];
      while (timer !== undefined) {
        const next = timer.next;
        if (timer.dueTick <= tick) {
          const fn = timer.fn!;
          this.#unlink(timer);
          timer.fn = undefined;
          this.#size--;
          try {
            fn();
          } catch (error) {
            this.#onError(error);
          }
        }
        // A callback may cancel `next`; an unlinked timer has slot -1 and ends the walk.
        timer = next === undefined || next.slot === slot ? next : this.#heads[slot];
      }
    }
    if (this.#current < last) this.#current = last;
  }

  close(): void {
    this.#closed = true;
    this.#disarm();
    this.#detach?.();
    for (let i = 0; i < this.#heads.length; i++) {
      for (let t = this.#heads[i]; t !== undefined; t = t.next) t.fn = undefined;
      this.#heads[i] = undefined;
    }
    this.#size = 0;
  }

  #link(timer: WheelTimer): void {
    const slot = timer.dueTick & this.#mask;
    const head = this.#heads[slot];
    timer.slot = slot;
    timer.prev = undefined;
    timer.next = head;
    if (head) head.prev = timer;
    this.#heads[slot] = timer;
  }

  #unlink(timer: WheelTimer): void {
    if (timer.prev) timer.prev.next = timer.next;
    else this.#heads[timer.slot] = timer.next;
    if (timer.next) timer.next.prev = timer.prev;
    timer.prev = timer.next = undefined;
    timer.slot = -1;
  }

  /** Arms the single real timer for the next non-empty slot (at most one revolution ahead). */
  #arm(): void {
    if (this.#size === 0) return;
    let tick = this.#current + 1;
    const end = this.#current + this.#mask + 1;
    while (tick < end && this.#heads[tick & this.#mask] === undefined) tick++;
    if (tick >= this.#armedFor) return;
    this.#disarm();
    this.#armedFor = tick;
    const delay = Math.max(0, tick * this.#tick - this.#clock.now());
    const id = setTimeout(() => {
      this.#timeoutId = undefined;
      this.#armedFor = Infinity;
      this.advanceTo(this.#clock.now());
      this.#arm();
    }, delay);
    this.#timeoutId = id;
    Deno.unrefTimer(id);
  }

  #disarm(): void {
    if (this.#timeoutId !== undefined) clearTimeout(this.#timeoutId);
    this.#timeoutId = undefined;
    this.#armedFor = Infinity;
  }
}

/** RFC 3261 Table 4 durations (ms) for one layer; reliable flows use 0 for D, I, J, K. */
export interface TimerValues {
  t1: number;
  t2: number;
  t4: number;
  /** INVITE request retransmit, initial (doubles, no cap). */
  a: number;
  /** INVITE transaction timeout. */
  b: number;
  /** Wait time for response retransmits (unreliable); ≥ 32 s. */
  d: number;
  /** Non-INVITE request retransmit, initial (doubles up to T2). */
  e: number;
  /** Non-INVITE transaction timeout. */
  f: number;
  /** INVITE response retransmit, initial (doubles up to T2). */
  g: number;
  /** Wait time for ACK receipt. */
  h: number;
  /** Wait time for ACK retransmits (unreliable). */
  i: number;
  /** Wait time for non-INVITE request retransmits (unreliable). */
  j: number;
  /** Wait time for response retransmits (unreliable). */
  k: number;
  /** RFC 6026: INVITE server Accepted state lifetime. */
  l: number;
  /** RFC 6026: INVITE client Accepted state lifetime. */
  m: number;
}

export function timerValues(t1: number, t2: number, t4: number, timerD?: number): TimerValues {
  if (!(t1 > 0 && t2 >= t1 && t4 > 0)) {
    throw new RangeError(`bad SIP timers: T1=${t1} T2=${t2} T4=${t4}`);
  }
  const x64 = 64 * t1;
  return {
    t1,
    t2,
    t4,
    a: t1,
    b: x64,
    d: timerD ?? Math.max(32_000, x64),
    e: t1,
    f: x64,
    g: t1,
    h: x64,
    i: t4,
    j: x64,
    k: t4,
    l: x64,
    m: x64,
  };
}
