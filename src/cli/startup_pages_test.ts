import assert from "node:assert/strict";
import { droppable, fileMappings, releaseStartupPages } from "./startup_pages.ts";

const SMAPS = [
  "55d0-55e0 r--p 00000000 fe:00 1442152                    /opt/deno",
  "Rss:                1200 kB",
  "Anonymous:             0 kB",
  "55e0-55f0 r-xp 01b8e000 fe:00 1442152                    /opt/deno",
  "Rss:               27300 kB",
  "Anonymous:             0 kB",
  "55f0-5600 r--p 05800000 fe:00 1442152                    /opt/deno",
  "Rss:                 800 kB",
  "Anonymous:           800 kB",
  "5600-5610 rw-p 05881000 fe:00 1442152                    /opt/deno",
  "Rss:                2400 kB",
  "Anonymous:          2400 kB",
  "5610-5620 rw-p 00000000 00:00 0                          [heap]",
  "Rss:                1884 kB",
  "Anonymous:          1884 kB",
  "7ff3-7ff4 r-xp 00026000 fe:00 339380                     /usr/lib/libc.so.6",
  "Rss:                1112 kB",
  "Anonymous:             0 kB",
].join("\n");

Deno.test("only the executable's read-only mappings without private pages are dropped", () => {
  const mappings = fileMappings(SMAPS);
  assert.deepEqual(mappings.length, 5); // the anonymous [heap] is not file-backed
  assert.deepEqual(mappings[1], {
    start: 0x55e0n,
    end: 0x55f0n,
    perms: "r-xp",
    path: "/opt/deno",
    rssKb: 27300,
    anonymousKb: 0,
  });
  // Not the relocated (Anonymous > 0) read-only part, not the data, not other files.
  assert.deepEqual(droppable(mappings, "/opt/deno").map((m) => m.perms), ["r--p", "r-xp"]);
});

Deno.test({
  name: "released pages come back on use: the process runs on (Linux)",
  ignore: Deno.build.os !== "linux",
  fn: () => {
    const resident = () => {
      const exe = Deno.realPathSync(Deno.execPath());
      return fileMappings(Deno.readTextFileSync("/proc/self/smaps"))
        .filter((m) => m.path === exe).reduce((kb, m) => kb + m.rssKb, 0);
    };
    const before = resident();
    const released = releaseStartupPages();
    assert.ok(released > 0, "nothing released");
    assert.ok(resident() < before, `${resident()} kB resident, ${before} before`);
    // Code and data of the runtime (ICU, the compiler, ops) fault back in from the file.
    assert.deepEqual(new Intl.NumberFormat("de-DE").format(1234.5), "1.234,5");
    assert.deepEqual(new TextDecoder().decode(new TextEncoder().encode("sipws")), "sipws");
    assert.ok(Deno.readTextFileSync("/proc/self/status").includes("RssFile"));
  },
});
