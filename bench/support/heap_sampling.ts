/**
 * @module Where the heap is allocated, by function: V8's sampling heap profiler through the
 * inspector, summed by allocating function and its caller (inlined callees count in their
 * caller). `promotedOnly` leaves out what a scavenge collected, so what remains is what
 * reached the old generation (promoted, pretenured or large) plus what is still young at
 * the stop: the objects that make old space grow between mark-compacts. Used by
 * bench/core_path.ts (`--alloc-sites`) and bench/server_memory.ts (`--promoted-sites`).
 * Not part of the product.
 */
import { Session } from "node:inspector";

interface ProfileNode {
  callFrame: { functionName: string; url: string };
  selfSize: number;
  children: ProfileNode[];
}

/**
 * Starts sampling (one sample per `interval` bytes on average: a short one slows a server
 * under load enough to change what it keeps); the returned function stops it and gives
 * bytes by "function <- caller".
 */
export async function startHeapSampling(
  promotedOnly = false,
  interval = 256,
): Promise<() => Promise<Map<string, number>>> {
  const session = new Session();
  session.connect();
  // deno-lint-ignore no-explicit-any
  const post = (method: string, params: object = {}): Promise<any> =>
    new Promise((resolve, reject) =>
      session.post(method, params, (e, result) => e ? reject(e) : resolve(result))
    );
  await post("HeapProfiler.enable");
  await post("HeapProfiler.startSampling", {
    samplingInterval: interval,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: !promotedOnly,
  });
  return async () => {
    const { profile } = await post("HeapProfiler.stopSampling");
    session.disconnect();
    return sitesOf(profile);
  };
}

/** A sampling heap profile's bytes by "function <- caller" (also for a remote profile). */
export function sitesOf(profile: { head: ProfileNode }): Map<string, number> {
  const bytes = new Map<string, number>();
  const walk = (node: ProfileNode, caller: string) => {
    const f = node.callFrame;
    const name = `${f.functionName || "(anonymous)"} ${f.url.split("/").slice(-2).join("/")}`;
    const site = `${name} <- ${caller}`;
    if (node.selfSize) bytes.set(site, (bytes.get(site) ?? 0) + node.selfSize);
    for (const child of node.children) walk(child, name);
  };
  walk(profile.head, "");
  return bytes;
}

/** Prints the total and the `top` sites as bytes per operation (`per`: operations sampled). */
export function printSites(label: string, bytes: Map<string, number>, per: number, top = 40) {
  let total = 0;
  for (const b of bytes.values()) total += b;
  console.log(`${label}: ${Math.round(total / per)} bytes per operation (sampled)`);
  const sorted = [...bytes].sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [site, b] of sorted) {
    console.log(`${String(Math.round(b / per)).padStart(7)}  ${site}`);
  }
}
