/**
 * @module Where an account command applies its change, and how: the running server's HTTP
 * control API (found by `--url`, or by the config's `-r` port answering `/healthz` on this
 * host), the cluster's Redis, or the store file opened directly. Holds the small HTTP
 * client (bearer key, JSON, bounded waits) and the store opener the commands in
 * accounts.ts share.
 */
import { UsageError } from "../config/flags.ts";
import type { Config } from "../config/config.ts";
import type { AccountStore } from "../store/account.ts";
import { openStore } from "../store/open_store.ts";
import { redactRedisUrl } from "../store/redis_client.ts";

/** A runtime failure (exit 1), e.g. the API refused or the account does not exist. */
export class AccountsError extends Error {}

/** Where the change goes: the running server's API, or the store file. */
export type Target =
  | { kind: "http"; url: string; key: string }
  | { kind: "file"; config: Config };

function apiHost(config: Config): string {
  const host = config.interface;
  if (host === "" || host === "0.0.0.0" || host === "::") return "127.0.0.1";
  return host.includes(":") ? `[${host}]` : host;
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1500) });
    await res.body?.cancel();
    return true;
  } catch {
    return false;
  }
}

export async function chooseTarget(
  o: { url?: string; key?: string },
  config: Config,
  allowHttp: boolean,
): Promise<Target> {
  const key = o.key ?? config.keys[0];
  // The cluster's Redis is the store every node follows: no need for a server's API.
  if (config.cluster.redis) return { kind: "file", config };
  if (o.url) {
    if (!key) throw new UsageError("--url needs --key (or a key in the config)");
    return { kind: "http", url: o.url.replace(/\/+$/, ""), key };
  }
  if (allowHttp && config.httpPort !== undefined) {
    const url = `http://${apiHost(config)}:${config.httpPort}`;
    if (await answers(url)) {
      if (!key) {
        throw new UsageError(
          `a server answers at ${url}: give --key to change accounts through it`,
        );
      }
      return { kind: "http", url, key };
    }
  }
  return { kind: "file", config };
}

export async function api(
  target: { url: string; key: string },
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  let res: Response;
  try {
    res = await fetch(target.url + path, {
      method,
      headers: {
        authorization: `Bearer ${target.key}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (e) {
    throw new AccountsError(`cannot reach ${target.url}: ${(e as Error).message}`);
  }
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON: reported below by status
  }
  return { status: res.status, json };
}

export function apiFailure(
  what: string,
  r: { status: number; json: Record<string, unknown> },
): AccountsError {
  const error = r.json.error as { message?: string } | undefined;
  return new AccountsError(
    `${what}: HTTP ${r.status}${error?.message ? `: ${error.message}` : ""}`,
  );
}

export async function withStore<T>(
  config: Config,
  fn: (store: AccountStore) => Promise<T>,
): Promise<T> {
  // The startup request (-d) belongs to the server's start, not to account commands.
  const store = await openStore({ ...config, dataFile: undefined });
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}

export function storeName(config: Config): string {
  if (config.cluster.redis) return redactRedisUrl(config.cluster.redis);
  return config.dbFile ?? config.storePath;
}

export async function knownDomains(target: Target): Promise<string[]> {
  if (target.kind === "http") {
    const r = await api(target, "GET", "/dir");
    if (r.status !== 200) throw apiFailure("listing domains", r);
    return (r.json.domains as { domain: string }[]).map((d) => d.domain);
  }
  return await withStore(
    target.config,
    (s) => Promise.resolve(s.listDomains().map((d) => d.domain)),
  );
}

export function via(target: Target): string {
  return target.kind === "http" ? `via ${target.url}` : `in ${storeName(target.config)}`;
}
