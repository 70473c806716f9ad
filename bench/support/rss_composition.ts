/**
 * @module What a process's RSS is made of, sampled from inside it (bench/server_memory.ts
 * `--sipp-rate`): anonymous and file-backed resident pages from /proc/self/status, V8's heap
 * spaces (committed and used) and the external memory V8 accounts for; and a sipp REGISTER +
 * digest load over UDP at a fixed rate to sample it under. Not part of the product.
 */
import v8 from "node:v8";
import { spawnChild } from "../../tests/support/process.ts";
import { freePorts } from "../../tests/support/ports.ts";
import { SIPP } from "../../tests/support/sipp.ts";
import { parseScreen, REGISTER_LOAD, sippLoadArgs } from "./sipp_ladder.ts";

const mb = (b: number) => Math.round(b / 1024 / 102.4) / 10;

/** kB fields of /proc/self/status, as MB. */
function status(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of Deno.readTextFileSync("/proc/self/status").split("\n")) {
    const m = /^(VmRSS|RssAnon|RssFile|RssShmem):\s+(\d+) kB/.exec(line);
    if (m) out[m[1]] = Math.round(Number(m[2]) / 102.4) / 10;
  }
  return out;
}

/** One sample, MB: RSS split, then each V8 space committed/used, heap total and external. */
export function sampleComposition(): Record<string, number> {
  const m = Deno.memoryUsage();
  const out: Record<string, number> = { ...status() };
  for (const s of v8.getHeapSpaceStatistics()) {
    const name = s.space_name.replace(/_space$/, "");
    out[`${name}_mb`] = mb(s.space_size);
    out[`${name}_used_mb`] = mb(s.space_used_size);
  }
  out.heap_total_mb = mb(m.heapTotal);
  out.heap_used_mb = mb(m.heapUsed);
  out.external_mb = mb(m.external);
  return out;
}

/**
 * sipp offers `rate` REGISTER + digest/s to 127.0.0.1:`port` over UDP for `durationMs`;
 * `onSecond` is called every second from the start until 3 s after sipp ends, then once
 * with sipp's totals.
 */
export async function sippRegisterLoad(
  port: number,
  rate: number,
  durationMs: number,
  onSecond: (line: Record<string, number | string>) => void,
): Promise<void> {
  const [local] = freePorts(1);
  const t0 = performance.now();
  const tick = setInterval(
    () => onSecond({ t_s: Math.round((performance.now() - t0) / 1000) }),
    1000,
  );
  const sipp = spawnChild(SIPP, {
    args: [
      ...sippLoadArgs(REGISTER_LOAD, port, local, "udp", durationMs / 1000 + 10),
      "-r",
      String(rate),
      "-rp",
      "1000",
      "-m",
      String(Math.round((rate * durationMs) / 1000)),
    ],
  });
  try {
    await sipp.wait(durationMs + 20_000);
    await new Promise((r) => setTimeout(r, 3000));
  } finally {
    clearInterval(tick);
    await sipp.stop();
  }
  const screen = parseScreen(sipp.stdout);
  onSecond({
    t_s: Math.round((performance.now() - t0) / 1000),
    end: "sipp",
    registered: screen.responses.get(200) ?? 0,
    shed: screen.responses.get(503) ?? 0,
  });
}
