/**
 * @module What happens around the abuse guard's decisions: one warning log line and a count
 * per ban and per account lock, the banned address's connections closed, the
 * `address.banned` event (control callbacks, dashboard). In a cluster, bans are shared
 * through Redis (store/redis_bans.ts) so they hold on every node: every change of this
 * node's ban set (its bans, counted over all its workers, and operator lifts) is published,
 * the others' are adopted (enforced, their connections closed, not logged as new bans or
 * called back twice), and a joining node loads the bans in force. Failure counts and rate
 * windows stay per node. Worker threads get bans and locks from the main thread
 * (workers/pool.ts).
 */
import type { Counters, EventBus } from "../events.ts";
import { Logger } from "../log.ts";
import { type BanChange as SharedChange, RedisBans } from "../store/redis_bans.ts";
import type { RedisLink } from "../store/redis_client.ts";
import type { AbuseGuard, Ban } from "../transport/abuse_guard.ts";

const log = new Logger("abuse");

export interface AbuseReportDeps {
  abuse: AbuseGuard;
  counters: Counters;
  events: EventBus;
  /** Closes every connection from an address. */
  closeFrom: (address: string) => void;
  /** This node's cluster link and id, when it runs in a cluster. */
  cluster?: { link: RedisLink; nodeId: string };
}

function describe(ban: Ban): string {
  const accounts = ban.accounts.slice(0, 5).join(", ") + (ban.accounts.length > 5 ? ", ..." : "");
  return `until ${new Date(ban.until).toISOString()} (${ban.reason}: ${ban.failures} failed ` +
    `authentications for ${ban.accounts.length} account(s): ${accounts}` +
    `${ban.repeat > 1 ? `; repeat ${ban.repeat}` : ""})`;
}

/** Wires the guard's callbacks; resolves once a cluster's bans are loaded and followed. */
export async function reportAbuse(deps: AbuseReportDeps): Promise<{ close(): void }> {
  const { abuse, counters, events, closeFrom, cluster } = deps;
  // Listed at 0 from the start, so a dashboard can graph them before the first attack.
  counters.inc("bans_total", {}, 0);
  counters.inc("rate_limited_total", {}, 0);
  abuse.onBanned = (ban) => {
    counters.inc("bans_total");
    log.warn(`banned ${ban.address} ${describe(ban)}`);
    closeFrom(ban.address);
    events.emit({ type: "address.banned", ban });
  };
  abuse.onLifted = (address) => log.info(`ban on ${address} lifted by an operator`);
  abuse.onAccountBlocked = (address, account, until) => {
    counters.inc("accounts_locked_total");
    log.warn(
      `${account} locked at ${address} until ${new Date(until).toISOString()} ` +
        `(failed authentications from an address with good users; the address is not banned)`,
    );
  };
  if (!cluster) return { close() {} };
  const shared = new RedisBans(cluster.link);
  // Every change of this node's ban set (its bans, counted over all its workers, operator
  // lifts) is published, except those that came from the cluster itself.
  let fromCluster = false;
  const unobserve = abuse.observe((change) => {
    // Account locks stay with the node that counted the failures.
    if (fromCluster || "locked" in change) return;
    const send = "ban" in change
      ? shared.ban(cluster.nodeId, change.ban)
      : shared.lift(cluster.nodeId, change.lifted);
    send.catch((e) => log.warn(`ban change not shared with the cluster: ${e}`));
  });
  const adopt = (ban: Ban, from: string) => {
    if (!abuse.adopt(ban)) return;
    closeFrom(ban.address);
    log.info(`ban of ${ban.address} from ${from} held here too ${describe(ban)}`);
  };
  const apply = (change: SharedChange) => {
    fromCluster = true;
    try {
      if ("ban" in change) adopt(change.ban, `node ${change.node}`);
      else if (abuse.forget(change.lifted)) {
        log.info(`ban on ${change.lifted} lifted on node ${change.node}`);
      }
    } finally {
      fromCluster = false;
    }
  };
  const sub = await shared.follow(cluster.nodeId, apply);
  fromCluster = true;
  try {
    for (const ban of await shared.loadAll()) adopt(ban, "the cluster");
  } finally {
    fromCluster = false;
  }
  return {
    close: () => {
      unobserve();
      sub.disconnect();
    },
  };
}
