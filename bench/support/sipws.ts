/**
 * @module sipws as a bench's server under test: a seeded sqlite account store and the
 * `deno run ... main.ts -f` command line a user would type (loopback only). The only config
 * file is `loadConfig`'s: the load generators send thousands of requests a second from
 * 127.0.0.1, which `[abuse]` would rightly rate-limit, so loopback is `trusted` (the abuse
 * check still runs on every message). Builds files and arguments, and provisions users over the control API; the bench spawns,
 * measures and stops the process.
 */
import { SqliteStore } from "../../src/store/sqlite_store.ts";
import type { AccountInput } from "../../src/store/account.ts";
import { LAZY_IMPORTS_FLAG, V8_FLAGS_ARG } from "../../src/cli/v8_flags.ts";

/** Creates `${dir}/sipws.db` holding `accounts` (HA1s only); returns its path. */
export async function seededStore(dir: string, accounts: AccountInput[]): Promise<string> {
  const path = `${dir}/sipws.db`;
  const store = SqliteStore.open(path, { storePlainPasswords: false });
  try {
    for (const account of accounts) await store.putAccount(account);
  } finally {
    store.close();
  }
  return path;
}

/**
 * Writes `${dir}/sipws.toml` (`toml`, then `[abuse]` trusting loopback) and returns its path;
 * undefined when `toml` is empty and the tree at `root` predates `[abuse]` (an A/B baseline
 * would reject the key).
 */
export function loadConfig(dir: string, root = ".", toml = ""): string | undefined {
  let schema = "";
  try {
    schema = Deno.readTextFileSync(`${root}/src/config/toml.ts`);
  } catch { /* not a sipws tree: no config */ }
  const abuse = schema.includes("abuse")
    ? `# bench load comes from loopback\n[abuse]\ntrusted = ["127.0.0.0/8"]\n`
    : "";
  if (!toml && !abuse) return undefined;
  const path = `${dir}/sipws.toml`;
  Deno.writeTextFileSync(path, toml + abuse);
  return path;
}

export interface ServeArgs {
  store: string;
  udp: number;
  /** TCP SIP port; none when omitted. */
  tcp?: number;
  /** TLS, WS and WSS SIP ports; none when omitted. TLS and WSS need `certificate`. */
  tls?: number;
  ws?: number;
  wss?: number;
  certificate?: { cert: string; key: string };
  /** A sipws.toml to read (see `loadConfig`); none: `--skipconfig`. */
  config?: string;
  /** HTTP control port and its API key; no HTTP API when omitted. */
  http?: { port: number; key: string };
  /** Run with the terminal dashboard. */
  tui?: boolean;
  /** Flags for `deno run` itself (e.g. `--cpu-prof`). */
  denoFlags?: string[];
  /**
   * `--workers N`: SIP worker threads; when omitted, the bench's `--sipws-workers` (passed on
   * as SIPWS_BENCH_WORKERS), else the default config's value.
   */
  workers?: number;
}

function workersArg(o: ServeArgs): string[] {
  const workers = o.workers ?? Deno.env.get("SIPWS_BENCH_WORKERS");
  return workers !== undefined ? ["--workers", String(workers)] : [];
}

/** Arguments for `Deno.execPath()` (run from the checkout's root) that serve on 127.0.0.1. */
export function serveArgs(o: ServeArgs): string[] {
  return [
    "run",
    LAZY_IMPORTS_FLAG,
    // The server's V8 flags as users get them, unless the bench sets its own.
    ...(o.denoFlags?.some((f) => f.startsWith("--v8-flags")) ? [] : [V8_FLAGS_ARG]),
    ...(o.denoFlags ?? []),
    "-A",
    "main.ts",
    "-f",
    ...(o.tui ? ["--tui"] : []),
    "-i",
    "127.0.0.1",
    "-u",
    String(o.udp),
    ...(o.tcp !== undefined ? ["-t", String(o.tcp)] : []),
    ...(o.tls !== undefined ? ["--tls-port", String(o.tls)] : []),
    ...(o.ws !== undefined ? ["-p", String(o.ws)] : []),
    ...(o.wss !== undefined ? ["-s", String(o.wss)] : []),
    ...(o.certificate ? ["-c", o.certificate.cert, "-k", o.certificate.key] : []),
    ...(o.config ? ["--config", o.config] : ["--skipconfig"]),
    "--store",
    o.store,
    ...(o.http ? ["-r", String(o.http.port), o.http.key] : []),
    ...workersArg(o),
  ];
}

/** Users `u0`..`u{n-1}` with passwords `pw-{i}` in `domain`, over the control API at `base`. */
export async function provisionUsers(
  base: string,
  key: string,
  domain: string,
  n: number,
): Promise<void> {
  const users = Array.from({ length: n }, (_, i) => ({ username: `u${i}`, secret: `pw-${i}` }));
  const res = await fetch(`${base}/dir/${domain}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ users }),
  });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`provisioning failed: ${res.status} ${text}`);
}
