/**
 * @module What another process's RSS is made of, read from outside: /proc/PID/smaps_rollup
 * (anonymous, file-backed) and /proc/PID/smaps grouped by kind of mapping. For a sipws
 * process: V8's heap pages (256 KiB anonymous mappings each, new and old space alike), glibc's
 * main arena (`[heap]`, what the main thread mallocs: ArrayBuffer backing stores below the
 * mmap threshold, Rust buffers), the other threads' arenas (64 MiB reservations, mostly
 * untouched), other anonymous mappings (large mallocs such as the completed ring and the nonce
 * slots, thread stacks, V8's code range) and the deno binary's mapped file. Not part of the
 * product.
 */

/** One mapping of /proc/PID/smaps: address range, name, size and resident kB. */
export interface Mapping {
  range: string;
  name: string;
  sizeKb: number;
  rssKb: number;
}

/** Resident kB by kind (see the module comment), and how many mappings of each. */
export type Composition = Record<string, { n: number; rssKb: number }>;

/** The `kB` fields of smaps_rollup and RssAnon/RssFile of status. */
export function rollup(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const path of [`/proc/${pid}/smaps_rollup`, `/proc/${pid}/status`]) {
    for (const line of Deno.readTextFileSync(path).split("\n")) {
      const m = /^(\w+):\s+(\d+) kB/.exec(line);
      if (m) out[m[1]] = Number(m[2]);
    }
  }
  return out;
}

/** Every mapping, largest resident first. */
export function mappings(pid: number): Mapping[] {
  const out: Mapping[] = [];
  let cur: Mapping | undefined;
  for (const line of Deno.readTextFileSync(`/proc/${pid}/smaps`).split("\n")) {
    const head = /^([0-9a-f]+-[0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      out.push(cur = { range: head[1], name: head[2] || "[anon]", sizeKb: 0, rssKb: 0 });
      continue;
    }
    const m = /^(Size|Rss):\s+(\d+) kB/.exec(line);
    if (m && cur) cur[m[1] === "Size" ? "sizeKb" : "rssKb"] = Number(m[2]);
  }
  return out.sort((a, b) => b.rssKb - a.rssKb);
}

/** The kind of a mapping, as the module comment names them. */
export function kind(m: Mapping): string {
  if (m.name === "[heap]") return "malloc main arena";
  if (m.name.endsWith("/deno") || m.name.endsWith("/sipws")) return "binary (file)";
  if (m.name !== "[anon]") return m.name.startsWith("[") ? m.name : "other files";
  if (m.sizeKb === 256) return "V8 heap pages";
  // glibc's thread arenas are 64 MiB-aligned reservations (heap_info at the start).
  if (/0{6}$/.test(m.range.split("-")[0]) && m.sizeKb <= 65536) return "malloc thread arenas";
  return "other anonymous";
}

/** Resident kB per kind. */
export function composition(maps: Mapping[]): Composition {
  const out: Composition = {};
  for (const m of maps) {
    const k = out[kind(m)] ??= { n: 0, rssKb: 0 };
    k.n++;
    k.rssKb += m.rssKb;
  }
  return out;
}
