/**
 * @module Child process for the store crash test: opens a store (`sqlite` or `json`) at a
 * path and runs a fixed, bounded plan of putAccount/deleteAccount calls, a few in flight
 * at once, printing `ack <index>` on stdout (synchronously) as each one resolves. The test
 * kills it with SIGKILL at a random point. `planOps` is shared with the test, which replays
 * the plan to know what every acknowledged op must have left behind.
 */
import type { AccountStore } from "../../src/store/account.ts";
import { JsonFileStore } from "../../src/store/json_file_store.ts";
import { SqliteStore } from "../../src/store/sqlite_store.ts";

export const CRASH_DOMAIN = "crash.test";
export const CRASH_USERS = 40;
/** Ops in flight at once: enough for the JSON store to group rewrites. */
export const IN_FLIGHT = 8;

export type PlannedOp =
  | { index: number; op: "put"; user: string; password: string }
  | { index: number; op: "delete"; user: string };

/**
 * A deterministic plan: users round-robin, so ops on one user are CRASH_USERS apart (never
 * in flight together); every third visit deletes a user that exists, else it is (re)put
 * with a password naming the op.
 */
export function planOps(count: number): PlannedOp[] {
  const exists = new Set<string>();
  const ops: PlannedOp[] = [];
  for (let index = 0; index < count; index++) {
    const user = `u${index % CRASH_USERS}`;
    const visit = Math.floor(index / CRASH_USERS);
    if (exists.has(user) && visit % 3 === 2) {
      exists.delete(user);
      ops.push({ index, op: "delete", user });
    } else {
      exists.add(user);
      ops.push({ index, op: "put", user, password: `p${index}` });
    }
  }
  return ops;
}

export function openForCrash(kind: string, path: string): Promise<AccountStore> {
  const options = { storePlainPasswords: true };
  if (kind === "sqlite") return Promise.resolve(SqliteStore.open(path, options));
  if (kind === "json") return JsonFileStore.open(path, options);
  throw new Error(`unknown store kind ${kind}`);
}

async function main(): Promise<void> {
  const [kind, path, countText] = Deno.args;
  const store = await openForCrash(kind, path);
  const encoder = new TextEncoder();
  const say = (line: string) => {
    const bytes = encoder.encode(line + "\n");
    let written = 0;
    while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
  };
  say("ready");
  const ops = planOps(Number(countText ?? 2000));
  let next = 0;
  const worker = async () => {
    while (next < ops.length) {
      const op = ops[next++];
      if (op.op === "put") {
        await store.putAccount({
          domain: CRASH_DOMAIN,
          user: op.user,
          password: op.password,
          cn: `cn ${op.index}`,
        });
      } else {
        const deleted = await store.deleteAccount(CRASH_DOMAIN, op.user);
        if (!deleted) throw new Error(`op ${op.index}: ${op.user} was missing`);
      }
      say(`ack ${op.index}`);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  say("done");
  store.close();
}

if (import.meta.main) await main();
