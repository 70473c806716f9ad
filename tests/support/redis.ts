/**
 * @module A real `redis-server` (Debian package) for cluster tests: its own temporary
 * folder, a free loopback port, append-only file so data outlives a stop/start (as a
 * production Redis with persistence does), and `stop()`/`start()` to simulate an outage
 * on the same port. `cli()` runs `redis-cli` against it. Never outlives the test.
 */
import { ChildProcess, spawnChild } from "./process.ts";
import { freePort, waitForListening } from "./ports.ts";

export class TestRedis implements AsyncDisposable {
  readonly port = freePort("tcp");
  readonly dir: string;
  #child?: ChildProcess;
  #extra: string[];

  private constructor(dir: string, extra: string[]) {
    this.dir = dir;
    this.#extra = extra;
  }

  /** `extra`: more redis-server arguments, e.g. `["--databases", "64"]`. */
  static async start(extra: string[] = []): Promise<TestRedis> {
    const redis = new TestRedis(await Deno.makeTempDir({ prefix: "sipws-redis-" }), extra);
    await redis.start();
    return redis;
  }

  /** The URL of database `db` (0..databases-1). */
  urlOf(db: number): string {
    return `redis://127.0.0.1:${this.port}/${db}`;
  }

  /** Kills it at once (for an unload handler, which cannot wait). */
  kill(): void {
    this.#child?.kill("SIGKILL");
  }

  get url(): string {
    return `${this.#tls ? "rediss" : "redis"}://127.0.0.1:${this.port}/0`;
  }

  /** Serves TLS only (on `port`) with this certificate and key (files); call before start. */
  #tls?: { cert: string; key: string };

  /** A Redis that speaks only TLS, with the given certificate and key files. */
  static async startTls(tls: { cert: string; key: string }): Promise<TestRedis> {
    const redis = new TestRedis(await Deno.makeTempDir({ prefix: "sipws-redis-" }), []);
    redis.#tls = tls;
    await redis.start();
    return redis;
  }

  async start(): Promise<void> {
    this.#child = spawnChild("redis-server", {
      args: [
        "--bind",
        "127.0.0.1",
        ...(this.#tls
          ? [
            "--port",
            "0",
            "--tls-port",
            String(this.port),
            "--tls-cert-file",
            this.#tls.cert,
            "--tls-key-file",
            this.#tls.key,
            "--tls-auth-clients",
            "no",
          ]
          : ["--port", String(this.port)]),
        "--dir",
        this.dir,
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        ...this.#extra,
      ],
      cwd: this.dir,
    });
    await waitForListening(this.port, "tcp");
  }

  async stop(): Promise<void> {
    await this.#child?.stop();
    this.#child = undefined;
  }

  async cli(...args: string[]): Promise<string> {
    const out = await new Deno.Command("redis-cli", {
      args: ["-p", String(this.port), ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    return new TextDecoder().decode(out.stdout).trim();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
