/**
 * @module Child processes for integration tests: spawn with `Deno.Command`, collect stdout
 * and stderr as text, wait for an output line matching a pattern (bounded by a timeout),
 * and stop the child (SIGTERM, then SIGKILL after a grace period). A `ChildProcess` is
 * `AsyncDisposable`, so `await using child = spawnChild(...)` or an explicit
 * `await child.stop()` in a `finally` block leaves no orphan: each child runs in its own
 * process group, and stop() signals the whole group. This module never reads
 * stdin interactively and never leaves a process running after `stop()` resolves.
 */

/** Options for `spawnChild` and `runCommand`. */
export interface SpawnOptions {
  args?: string[];
  cwd?: string;
  /** Added to (not replacing) the parent's environment unless `clearEnv` is set. */
  env?: Record<string, string>;
  clearEnv?: boolean;
  /** Text written to the child's stdin, which is then closed. Default: no stdin. */
  stdin?: string;
}

/** Which output stream(s) `waitForLine` watches. */
export type OutputStream = "stdout" | "stderr" | "any";

interface LineWaiter {
  stream: OutputStream;
  pattern: RegExp;
  resolve: (m: RegExpMatchArray) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** A running child with collected output. */
export class ChildProcess implements AsyncDisposable {
  readonly command: string;
  readonly pid: number;
  /** Resolves when the child exits (never rejects). */
  readonly status: Promise<Deno.CommandStatus>;
  #child: Deno.ChildProcess;
  #out = { stdout: "", stderr: "" };
  #waiters: LineWaiter[] = [];
  #pumps: Promise<void>[];
  #exited: Deno.CommandStatus | undefined;
  #readers: ReadableStreamDefaultReader<Uint8Array>[] = [];

  constructor(command: string, options: SpawnOptions = {}) {
    this.command = command;
    this.#child = new Deno.Command(command, {
      args: options.args ?? [],
      cwd: options.cwd,
      env: options.env,
      clearEnv: options.clearEnv,
      stdin: options.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
      // Own process group (setsid), so stop() also reaches grandchildren (sh -c ...).
      detached: true,
    }).spawn();
    this.pid = this.#child.pid;
    if (options.stdin !== undefined) {
      const writer = this.#child.stdin.getWriter();
      writer.write(new TextEncoder().encode(options.stdin))
        .then(() => writer.close())
        .catch(() => {/* child exited before reading stdin */});
    }
    this.#pumps = [
      this.#pump(this.#child.stdout, "stdout"),
      this.#pump(this.#child.stderr, "stderr"),
    ];
    this.status = this.#child.status.then((s) => {
      this.#exited = s;
      return s;
    });
    // Waiters still pending when the child has exited and its output is drained can
    // never match: fail them now instead of at their timeout.
    this.status.then(() => this.#drain()).then(() => {
      for (const w of [...this.#waiters]) {
        this.#dropWaiter(w);
        w.reject(
          new Error(
            `${this.command} exited (code ${this.#exited?.code}) before printing ${w.pattern}\n` +
              this.#describe(),
          ),
        );
      }
    });
  }

  /** Everything the child printed on stdout so far. */
  get stdout(): string {
    return this.#out.stdout;
  }

  /** Everything the child printed on stderr so far. */
  get stderr(): string {
    return this.#out.stderr;
  }

  /** True once the child has exited. */
  get exited(): boolean {
    return this.#exited !== undefined;
  }

  /**
   * Resolve with the first line (already printed or future) on `stream` that matches
   * `pattern`; reject after `timeoutMs` or when the child exits without printing it.
   */
  waitForLine(
    pattern: RegExp,
    timeoutMs: number,
    stream: OutputStream = "any",
  ): Promise<RegExpMatchArray> {
    const existing = this.#matchExisting(pattern, stream);
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve, reject) => {
      const waiter: LineWaiter = {
        stream,
        pattern,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#dropWaiter(waiter);
          reject(
            new Error(
              `timeout after ${timeoutMs} ms waiting for ${pattern} from ${this.command}\n` +
                this.#describe(),
            ),
          );
        }, timeoutMs),
      };
      this.#waiters.push(waiter);
    });
  }

  /** Send `signal` (default SIGTERM) to the child's process group while it runs. */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    if (this.#exited) return;
    this.#killGroup(signal);
  }

  #killGroup(signal: Deno.Signal): void {
    try {
      Deno.kill(-this.pid, signal);
    } catch {
      try {
        this.#child.kill(signal);
      } catch {
        // Already exited.
      }
    }
  }

  /**
   * Stop the child: SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited
   * and its output is fully collected. Safe to call more than once.
   */
  async stop(graceMs = 2000): Promise<Deno.CommandStatus> {
    if (!this.#exited) {
      this.kill("SIGTERM");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const killed = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.kill("SIGKILL");
          resolve();
        }, graceMs);
      });
      await Promise.race([this.status, killed]);
      clearTimeout(timer);
    }
    const status = await this.status;
    // Grandchildren that outlived the child are still in its group: end them too.
    try {
      Deno.kill(-this.pid, "SIGKILL");
    } catch {
      // Group is empty: nothing left.
    }
    await this.#drain();
    return status;
  }

  /** Wait for exit (no signal) at most `timeoutMs`, then stop it. */
  async wait(timeoutMs: number): Promise<{ status: Deno.CommandStatus; timedOut: boolean }> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const first = await Promise.race([this.status, expired]);
    clearTimeout(timer);
    const status = await this.stop();
    return { status, timedOut: first === "timeout" };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /**
   * Wait for the output pumps, but not forever: a grandchild that outlived the child may
   * hold the pipes open, so after a short grace the readers are cancelled.
   */
  async #drain(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, 500);
    });
    await Promise.race([Promise.all(this.#pumps), grace]);
    clearTimeout(timer);
    for (const reader of this.#readers) reader.cancel().catch(() => {});
    await Promise.all(this.#pumps);
  }

  #describe(): string {
    const tail = (s: string) => s.length > 4000 ? "..." + s.slice(-4000) : s;
    return `--- stdout ---\n${tail(this.#out.stdout)}\n--- stderr ---\n${tail(this.#out.stderr)}`;
  }

  #matchExisting(pattern: RegExp, stream: OutputStream): RegExpMatchArray | undefined {
    const texts = stream === "any" ? [this.#out.stdout, this.#out.stderr] : [this.#out[stream]];
    for (const text of texts) {
      for (const line of text.split("\n")) {
        const m = line.match(pattern);
        if (m) return m;
      }
    }
    return undefined;
  }

  #dropWaiter(w: LineWaiter): void {
    clearTimeout(w.timer);
    this.#waiters = this.#waiters.filter((x) => x !== w);
  }

  async #pump(readable: ReadableStream<Uint8Array>, name: "stdout" | "stderr"): Promise<void> {
    const decoder = new TextDecoder();
    let partial = "";
    const reader = readable.getReader();
    this.#readers.push(reader);
    try {
      while (true) {
        const { value: chunk, done } = await reader.read();
        if (done) break;
        const text = decoder.decode(chunk, { stream: true });
        this.#out[name] += text;
        partial += text;
        const lines = partial.split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) this.#offerLine(line, name);
      }
    } catch {
      // Stream torn down by kill: what was read is kept.
    }
    if (partial) this.#offerLine(partial, name);
  }

  #offerLine(line: string, name: "stdout" | "stderr"): void {
    for (const w of [...this.#waiters]) {
      if (w.stream !== "any" && w.stream !== name) continue;
      const m = line.match(w.pattern);
      if (m) {
        this.#dropWaiter(w);
        w.resolve(m);
      }
    }
  }
}

/** Spawn `command` (path or name on PATH) with piped, collected output. */
export function spawnChild(command: string, options: SpawnOptions = {}): ChildProcess {
  return new ChildProcess(command, options);
}

/** Result of `runCommand`. */
export interface RunResult {
  code: number;
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
  /** True when the child was killed because `timeoutMs` expired. */
  timedOut: boolean;
}

/** Run `command` to completion, killing it after `timeoutMs`. Never rejects on exit code. */
export async function runCommand(
  command: string,
  options: SpawnOptions & { timeoutMs: number },
): Promise<RunResult> {
  const child = spawnChild(command, options);
  try {
    const { status, timedOut } = await child.wait(options.timeoutMs);
    return {
      code: status.code,
      signal: status.signal,
      stdout: child.stdout,
      stderr: child.stderr,
      timedOut,
    };
  } finally {
    await child.stop();
  }
}
