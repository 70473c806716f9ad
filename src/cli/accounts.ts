/**
 * @module `sipws accounts add|del|list|import|export`: account administration from the
 * shell. It finds the store as the server does (`loadConfig`: sipws.toml / sipws.cfg,
 * `--config`, `-b FILE`, `--store PATH`). When a server answers on the HTTP control API
 * (`--url`, or the config's `-r` port on this host) the change goes through the API, so the
 * running server sees it at once and the store has one writer; otherwise the command
 * opens the store file itself. With `--cluster-redis URL` (or `[cluster] redis`) the
 * store is the cluster's Redis, which every node follows. `export` always reads the store file (a read is safe while
 * the server runs). It prints `error: ...` and sets exit code 2 (usage, config) or 1
 * (runtime); it never prints a password or digest.
 */
import { type Command, Option } from "commander";
import { UsageError } from "../config/flags.ts";
import { loadConfig } from "../config/load.ts";
import type { Config } from "../config/config.ts";
import type { AccountInput } from "../store/account.ts";
import { formatDatabaseFile, writeFileAtomic } from "../store/json_file_store.ts";
import { applySipwsRequest, readSipwsRequestFile } from "../store/open_store.ts";
import type { SipwsRequest } from "../store/sipws_request.ts";
import { printErr, reportLoadError } from "./output.ts";
import {
  AccountsError,
  api,
  apiFailure,
  chooseTarget,
  knownDomains,
  storeName,
  via,
  withStore,
} from "./accounts_target.ts";

interface CommonOptions {
  db?: string;
  store?: string;
  clusterRedis?: string;
  config?: string;
  skipconfig?: boolean;
  httpport?: string;
  url?: string;
  key?: string;
  domain?: string;
}

function addCommonOptions(cmd: Command): Command {
  return cmd
    .option("-b, --db <file>", "SIPWS JSON database file (instead of the sqlite store)")
    .option("--store <file>", "sqlite account store (default from the config, sipws.db)")
    .option("--cluster-redis <url>", "the cluster's Redis: every node sees the change within 1 s")
    .option("--config <file>", "read this config file instead of searching for one")
    .option("--skipconfig", "do not read sipws.toml / sipws.cfg")
    .addOption(new Option("-r, --httpport <port>", "HTTP control port of a running server"))
    .option("--url <url>", "HTTP control API of a running server, e.g. http://127.0.0.1:8082")
    .option("--key <key>", "key for the HTTP control API (default: the config's first key)");
}

/** The serve command line equivalent of the options, for `loadConfig`. */
function configArgv(o: CommonOptions): string[] {
  const argv: string[] = [];
  if (o.config) argv.push("--config", o.config);
  if (o.skipconfig) argv.push("--skipconfig");
  if (o.db) argv.push("-b", o.db);
  if (o.store) argv.push("--store", o.store);
  if (o.clusterRedis) argv.push("--cluster-redis", o.clusterRedis);
  if (o.httpport) argv.push("-r", o.httpport);
  return argv;
}

/** --domain, else the config's only served domain, else the store's only domain. */
function pickDomain(given: string | undefined, config: Config, known: string[]): string {
  if (given) return given;
  if (config.sip.domains.length === 1) return config.sip.domains[0];
  if (known.length === 1) return known[0];
  throw new UsageError(
    known.length === 0
      ? "--domain is required (no domain exists yet)"
      : `--domain is required (one of ${known.join(", ")})`,
  );
}

/** Reads a password without echo from the terminal. */
async function promptPassword(question: string): Promise<string> {
  const encoder = new TextEncoder();
  await Deno.stdout.write(encoder.encode(question));
  Deno.stdin.setRaw(true);
  const bytes: number[] = [];
  const buf = new Uint8Array(1);
  try {
    for (;;) {
      const n = await Deno.stdin.read(buf);
      if (n === null) break;
      const c = buf[0];
      if (c === 13 || c === 10) break;
      if (c === 3) throw new AccountsError("interrupted");
      if (c === 127 || c === 8) bytes.pop();
      else bytes.push(c);
    }
  } finally {
    Deno.stdin.setRaw(false);
    await Deno.stdout.write(encoder.encode("\n"));
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

async function passwordOf(o: { password?: string }, who: string): Promise<string> {
  if (o.password !== undefined) {
    if (o.password === "") throw new UsageError("--password must not be empty");
    return o.password;
  }
  if (!Deno.stdin.isTerminal()) {
    throw new UsageError("--password is required when stdin is not a terminal");
  }
  const first = await promptPassword(`password for ${who}: `);
  const again = await promptPassword("again: ");
  if (first !== again) throw new AccountsError("the passwords differ");
  if (first === "") throw new UsageError("the password must not be empty");
  return first;
}

/** Runs one subcommand with config loading and error reporting (exit codes 1 and 2). */
function run<A extends unknown[]>(
  cmd: Command,
  fn: (o: CommonOptions & Record<string, unknown>, ...args: A) => Promise<void>,
): void {
  cmd.action(async (...args: unknown[]) => {
    const command = args[args.length - 1] as Command;
    const options = command.optsWithGlobals() as CommonOptions & Record<string, unknown>;
    try {
      await fn(options, ...(args.slice(0, -2) as A));
      Deno.exitCode = 0;
    } catch (e) {
      if (e instanceof AccountsError) {
        printErr(`error: ${e.message}`);
        Deno.exitCode = 1;
      } else Deno.exitCode = reportLoadError(e);
    }
  });
}

async function load(o: CommonOptions): Promise<Config> {
  return (await loadConfig(configArgv(o))).config;
}

async function addAccount(o: CommonOptions & Record<string, unknown>, user: string) {
  const config = await load(o);
  const target = await chooseTarget(o, config, true);
  const domain = pickDomain(o.domain, config, await knownDomains(target));
  const password = await passwordOf(o as { password?: string }, `${user}@${domain}`);
  const fields: Record<string, string> = {};
  for (const key of ["cn", "description", "image"]) {
    if (typeof o[key] === "string") fields[key] = o[key] as string;
  }
  if (target.kind === "http") {
    const r = await api(
      target,
      "PUT",
      `/dir/${encodeURIComponent(domain)}/${encodeURIComponent(user)}`,
      {
        secret: password,
        ...fields,
      },
    );
    if (r.status !== 200 && r.status !== 201) throw apiFailure(`adding ${user}@${domain}`, r);
  } else {
    await withStore(config, async (store) => {
      const existing = store.getAccount(domain, user);
      const input: AccountInput = { ...(existing ?? { domain, user }), password, ...fields };
      delete (input as { ha1?: unknown }).ha1;
      await store.putAccount(input);
    });
  }
  console.log(`added ${user}@${domain} ${via(target)}`);
  if (target.kind === "file") fileModeNote(config);
}

function fileModeNote(config: Config) {
  if (config.httpPort === undefined && !config.cluster.redis) {
    printErr("note: a running sipws without -r sees this change after a reload (SIGHUP)");
  }
}

async function delAccount(o: CommonOptions, user: string) {
  const config = await load(o);
  const target = await chooseTarget(o, config, true);
  const domain = pickDomain(o.domain, config, await knownDomains(target));
  if (target.kind === "http") {
    const r = await api(
      target,
      "DELETE",
      `/dir/${encodeURIComponent(domain)}/${encodeURIComponent(user)}`,
    );
    if (r.status === 404) throw new AccountsError(`no such account: ${user}@${domain}`);
    if (r.status !== 200) throw apiFailure(`deleting ${user}@${domain}`, r);
  } else {
    const removed = await withStore(config, (store) => store.deleteAccount(domain, user));
    if (!removed) throw new AccountsError(`no such account: ${user}@${domain}`);
  }
  console.log(`deleted ${user}@${domain} ${via(target)}`);
  if (target.kind === "file") fileModeNote(config);
}

interface Row {
  user: string;
  domain: string;
  cn?: string;
  registered?: boolean;
}

async function listAccounts(o: CommonOptions & { json?: boolean }) {
  const config = await load(o);
  const target = await chooseTarget(o, config, true);
  let rows: Row[];
  if (target.kind === "http") {
    const query = `?all=1${o.domain ? `&domain=${encodeURIComponent(o.domain)}` : ""}`;
    const r = await api(target, "GET", `/${query}`);
    if (r.status !== 200) throw apiFailure("listing accounts", r);
    rows = (r.json.registry as { key: string; domain: string; cn?: string; avail: string }[]).map(
      (a) => ({
        user: a.key.slice(0, a.key.lastIndexOf("@")),
        domain: a.domain,
        cn: a.cn,
        registered: a.avail === "1",
      }),
    );
  } else {
    rows = await withStore(config, (store) =>
      Promise.resolve(
        store.listAccounts(o.domain).map((a) => ({ user: a.user, domain: a.domain, cn: a.cn })),
      ));
  }
  if (o.json) {
    console.log(JSON.stringify(rows, null, 2));
    return;
  }
  for (const r of rows) {
    const state = r.registered === undefined ? "" : r.registered ? "\tregistered" : "\t-";
    console.log(`${r.user}@${r.domain}\t${r.cn ?? ""}${state}`);
  }
}

/** A put entry of the SIPWS protocol carrying one account (digests when no password). */
function putEntry(a: AccountInput): Record<string, unknown> {
  const e: Record<string, unknown> = { o: "+", u: a.user, domain: a.domain };
  if (a.password !== undefined) e.k = a.password;
  if (a.ha1) {
    e.ha1 = a.ha1.md5;
    e.ha1_sha256 = a.ha1.sha256;
  }
  if (a.image !== undefined) e.i = a.image;
  for (const key of ["cn", "description", "id", "avail", "origin", "port", "expire"] as const) {
    if (a[key] !== undefined) e[key] = a[key];
  }
  return e;
}

async function importFile(o: CommonOptions, file: string) {
  const config = await load(o);
  let request: SipwsRequest;
  try {
    request = await readSipwsRequestFile(file);
  } catch (e) {
    throw new AccountsError((e as Error).message);
  }
  const target = await chooseTarget(o, config, true);
  if (target.kind === "http") {
    for (const d of request.domains) {
      if (d.control === undefined) continue;
      const r = await api(target, "PUT", `/dir/${encodeURIComponent(d.domain)}`, {
        control: d.control,
      });
      if (r.status !== 201) throw apiFailure(`importing domain ${d.domain}`, r);
    }
    const data = request.changes.map((c) =>
      c.op === "put" ? putEntry(c.account) : { o: "-", u: c.user, domain: c.domain }
    );
    const r = await api(target, "POST", "/", { q: "put", domain: request.domain ?? "", data });
    if (r.status !== 200) throw apiFailure(`importing ${file}`, r);
  } else {
    await withStore(config, (store) => applySipwsRequest(store, request));
    fileModeNote(config);
  }
  console.log(
    `imported ${request.changes.length} entr${
      request.changes.length === 1 ? "y" : "ies"
    } from ${file} ${via(target)}`,
  );
}

async function exportFile(o: CommonOptions, file: string) {
  const config = await load(o);
  const count = await withStore(config, async (store) => {
    const accounts = store.listAccounts();
    const text = formatDatabaseFile(accounts, store.listDomains(), store.version(), {});
    await writeFileAtomic(file, text);
    return accounts.length;
  });
  console.log(
    `exported ${count} account${count === 1 ? "" : "s"} from ${storeName(config)} to ${file}`,
  );
}

/** Adds `accounts` and its subcommands to the root program. */
export function registerAccountsCommand(program: Command): void {
  const accounts = addCommonOptions(
    program.command("accounts").description("manage SIP accounts (add, del, list, import, export)"),
  );

  const add = addCommonOptions(accounts.command("add").argument("<user>", "user name"))
    .description("add or replace an account (asks for the password on a terminal)")
    .option("--domain <domain>", "SIP domain (default: the only one)")
    .option("--password <password>", "password (prompted when absent on a terminal)")
    .option("--cn <name>", "common name")
    .option("--description <text>", "description")
    .option("--image <uri>", "image URI");
  run(add, (o, user: string) => addAccount(o, user));

  const del = addCommonOptions(accounts.command("del").argument("<user>", "user name"))
    .description("delete an account")
    .option("--domain <domain>", "SIP domain (default: the only one)");
  run(del, (o, user: string) => delAccount(o, user));

  const list = addCommonOptions(accounts.command("list"))
    .description("list accounts (and registration state when the server runs)")
    .option("--domain <domain>", "only this domain")
    .option("--json", "print JSON");
  run(list, (o) => listAccounts(o as CommonOptions & { json?: boolean }));

  const imp = addCommonOptions(accounts.command("import").argument("<file>", "SIPWS JSON file"))
    .description("import a SIPWS database file or put request as one change");
  run(imp, (o, file: string) => importFile(o, file));

  const exp = addCommonOptions(accounts.command("export").argument("<file>", "output file"))
    .description(
      "export every account to a SIPWS JSON database file (HA1 digests, no plain passwords unless kept)",
    );
  run(exp, (o, file: string) => exportFile(o, file));
}
