/**
 * @module A pseudo-terminal for integration tests: runs one command in a detached tmux
 * session on a private tmux server socket (`-L`), types keys into it (`send-keys`), reads
 * the screen as text (`capture-pane -p`), resizes it, and waits (bounded) until the screen
 * matches. The command's exit status is written to a file by the wrapping shell, so a test
 * can assert it. `close()` kills only this private tmux server.
 */

export const hasTmux = (() => {
  try {
    return new Deno.Command("tmux", { args: ["-V"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

export class TmuxTerminal implements AsyncDisposable {
  readonly socket: string;
  readonly name = "t";
  readonly exitFile: string;
  #closed = false;

  private constructor(socket: string, exitFile: string) {
    this.socket = socket;
    this.exitFile = exitFile;
  }

  async #tmux(args: string[]): Promise<string> {
    const out = await new Deno.Command("tmux", {
      args: ["-L", this.socket, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(`tmux ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
    }
    return new TextDecoder().decode(out.stdout);
  }

  /**
   * Starts `argv` in `cwd` in a new `cols`x`rows` terminal; `env` is added to the command's
   * environment. The exit status lands in `exitFile` as `EXIT=<code>`.
   */
  static async start(
    argv: string[],
    o: { cwd: string; cols: number; rows: number; dir: string; env?: Record<string, string> },
  ): Promise<TmuxTerminal> {
    const socket = `sipws-test-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
    const exitFile = `${o.dir}/exit-${socket}`;
    const t = new TmuxTerminal(socket, exitFile);
    const env = Object.entries(o.env ?? {}).map(([k, v]) => `${k}=${shellQuote(v)} `).join("");
    const script = `cd ${shellQuote(o.cwd)} && ${env}${argv.map(shellQuote).join(" ")}; ` +
      `echo EXIT=$? > ${shellQuote(exitFile)}; sleep 30`;
    await t.#tmux([
      "-f",
      "/dev/null",
      "new-session",
      "-d",
      "-s",
      t.name,
      "-x",
      String(o.cols),
      "-y",
      String(o.rows),
      script,
    ]);
    return t;
  }

  /** The visible screen as lines of text. */
  async screen(): Promise<string> {
    return await this.#tmux(["capture-pane", "-p", "-t", this.name]);
  }

  /** Types keys: tmux key names (`Tab`, `Up`, `PageDown`) or literal text. */
  async keys(...keys: string[]): Promise<void> {
    await this.#tmux(["send-keys", "-t", this.name, ...keys]);
  }

  /** Types text literally (no key-name lookup). */
  async type(text: string): Promise<void> {
    await this.#tmux(["send-keys", "-l", "-t", this.name, text]);
  }

  /** Pid of the process the pane runs (the wrapping shell). */
  async panePid(): Promise<number> {
    return Number(
      (await this.#tmux(["display-message", "-p", "-t", this.name, "#{pane_pid}"])).trim(),
    );
  }

  async resize(cols: number, rows: number): Promise<void> {
    await this.#tmux(["resize-window", "-t", this.name, "-x", String(cols), "-y", String(rows)]);
  }

  /** Polls the screen until `pattern` matches it; rejects with the last screen after `ms`. */
  async waitFor(pattern: RegExp, ms = 10_000): Promise<string> {
    const deadline = Date.now() + ms;
    let last = "";
    while (Date.now() < deadline) {
      last = await this.screen().catch(() => last);
      if (pattern.test(last)) return last;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`screen did not match ${pattern} within ${ms} ms:\n${last}`);
  }

  /** Polls the screen until `pattern` no longer matches it. */
  async waitForGone(pattern: RegExp, ms = 10_000): Promise<string> {
    const deadline = Date.now() + ms;
    let last = "";
    while (Date.now() < deadline) {
      last = await this.screen().catch(() => last);
      if (!pattern.test(last)) return last;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`screen still matched ${pattern} after ${ms} ms:\n${last}`);
  }

  /** The command's exit code once it has ended (bounded wait), else undefined. */
  async exitCode(ms = 15_000): Promise<number | undefined> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      try {
        const m = /EXIT=(\d+)/.exec(await Deno.readTextFile(this.exitFile));
        if (m) return Number(m[1]);
      } catch {
        // not yet written
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return undefined;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#tmux(["kill-server"]).catch(() => {});
    await Deno.remove(this.exitFile).catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
