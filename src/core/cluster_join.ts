/**
 * @module Joining a cluster from configuration: this node's id and advertise URI, the
 * Redis link, the `ClusterNode` started on it, and the cluster-wide view of bindings the
 * API and dashboard read. The composition root calls it; the behaviour is in
 * cluster_node.ts.
 */
import type { Config } from "../config/config.ts";
import type { EventBus } from "../events.ts";
import { Logger } from "../log.ts";
import { formatHost } from "../sip/uri.ts";
import { redisOptions } from "../store/open_store.ts";
import { RedisBindings } from "../store/redis_bindings.ts";
import { openRedis, redactRedisUrl, type RedisLink } from "../store/redis_client.ts";
import { isWildcard } from "../transport/address.ts";
import type { Binding, BindingReader } from "./binding.ts";
import type { ClusterView } from "./cluster_view.ts";
import { ClusterNode } from "./cluster_node.ts";
import type { LocationService } from "./location.ts";
import type { FlowOwner } from "../transport/types.ts";

const log = new Logger("cluster");

/** `[cluster] advertise`, or this node's first UDP/TCP address when that is a plain address. */
function advertiseOf(config: Config): string {
  if (config.cluster.advertise) return config.cluster.advertise;
  const port = config.udpPort ?? config.tcpPort;
  if (port === undefined || isWildcard(config.interface)) {
    throw new Error("[cluster] advertise is needed: no UDP/TCP port on a specific interface");
  }
  const transport = config.udpPort !== undefined ? "udp" : "tcp";
  return `sip:${formatHost(config.interface)}:${port};transport=${transport}`;
}

/** `[cluster] node_id`, or the host name. */
export function clusterNodeId(config: Config): string {
  return config.cluster.nodeId || Deno.hostname();
}

/**
 * This node's bindings followed by the other nodes'. An operator's removal of another
 * node's binding needs the cluster node (main thread); a worker's view cannot.
 */
export function clusterWide(
  location: LocationService,
  node: Pick<ClusterView, "lookup" | "all" | "byId" | "owns"> & {
    removeRemote?(binding: Binding): boolean;
  },
): BindingReader {
  return {
    lookup: (aor) => [...location.lookup(aor), ...node.lookup(aor)],
    all: () => [...location.all(), ...node.all()],
    byId: (id) => location.byId(id) ?? node.byId(id),
    remove: (b, cause) =>
      node.owns(b) ? location.remove(b, cause) : node.removeRemote?.(b) ?? false,
  };
}

/**
 * Connects to the cluster's Redis and starts this node's part (the Redis link with it).
 * `owner` is the transport's: its node is this cluster node's id.
 */
export async function joinCluster(
  config: Config,
  owner: FlowOwner,
  location: LocationService,
  events: EventBus,
): Promise<{ node: ClusterNode; link: RedisLink }> {
  const nodeId = owner.node;
  const link = await openRedis(
    config.cluster.redis,
    `sipws-${nodeId}`,
    await redisOptions(config.cluster),
  );
  const node = new ClusterNode({
    owner,
    advertise: advertiseOf(config),
    bindings: new RedisBindings(link),
    location,
    events,
    heartbeatTtlMs: config.cluster.heartbeatTtl * 1000,
  });
  try {
    await node.start();
  } catch (error) {
    link.close();
    throw error;
  }
  log.info(
    `cluster node ${nodeId} (${node.advertise}) joined ${redactRedisUrl(config.cluster.redis)}`,
  );
  return { node, link };
}
