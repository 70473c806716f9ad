/**
 * @module Hands back the resident pages of the executable's code and read-only data once the
 * server has started. Deno's binary (or the `deno compile`d sipws) is mapped from its file and
 * counts ~48 MB in the RSS under load (`RssFile`), of which ~22 MB is code and data only
 * startup runs (loading and transpiling the modules, the runtime's bootstrap): the pages stay
 * resident although nothing touches them again. `madvise(MADV_DONTNEED)` on the read-only,
 * file-backed mappings of the executable unmaps them; a page the server does use is mapped
 * again from the page cache on its next touch (a minor fault), so the RSS settles at the
 * working set (~26 MB under a REGISTER storm; docs/performance.md). Only mappings without a
 * private copy of any page (`Anonymous: 0 kB` in /proc/self/smaps) are touched: dropping a
 * read-only page that relocation wrote would bring back the file's bytes. Best effort: on
 * other systems, without FFI permission or when anything does not match, nothing changes.
 */

const MADV_DONTNEED = 4;

/** A mapping of /proc/self/smaps: its range, permissions, file and page counts (kB). */
export interface Mapping {
  start: bigint;
  end: bigint;
  perms: string;
  path: string;
  rssKb: number;
  anonymousKb: number;
}

/** The file-backed mappings of /proc/self/smaps text. */
export function fileMappings(smaps: string): Mapping[] {
  const out: Mapping[] = [];
  let current: Mapping | undefined;
  for (const line of smaps.split("\n")) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ (\d+)\s+(.*)$/.exec(line);
    if (head) {
      current = head[4] === "0" ? undefined : {
        start: BigInt(`0x${head[1]}`),
        end: BigInt(`0x${head[2]}`),
        perms: head[3],
        path: head[5],
        rssKb: 0,
        anonymousKb: 0,
      };
      if (current) out.push(current);
      continue;
    }
    if (current === undefined) continue;
    const field = /^(Rss|Anonymous):\s+(\d+) kB/.exec(line);
    if (field?.[1] === "Rss") current.rssKb = Number(field[2]);
    else if (field) current.anonymousKb = Number(field[2]);
  }
  return out;
}

/** The executable's mappings it is safe to drop: read-only, no page copied privately. */
export function droppable(mappings: Mapping[], executable: string): Mapping[] {
  return mappings.filter((m) =>
    m.path === executable && !m.perms.includes("w") && m.anonymousKb === 0 && m.rssKb > 0
  );
}

/** Drops the executable's startup-only pages from the RSS; returns the kB released (0: none). */
export function releaseStartupPages(): number {
  if (Deno.build.os !== "linux") return 0;
  try {
    const libc = Deno.dlopen("libc.so.6", {
      madvise: { parameters: ["usize", "usize", "i32"], result: "i32" },
    });
    try {
      let released = 0;
      const executable = Deno.realPathSync(Deno.execPath());
      for (
        const m of droppable(fileMappings(Deno.readTextFileSync("/proc/self/smaps")), executable)
      ) {
        if (libc.symbols.madvise(m.start, m.end - m.start, MADV_DONTNEED) === 0) {
          released += m.rssKb;
        }
      }
      return released;
    } finally {
      libc.close();
    }
  } catch {
    return 0;
  }
}
