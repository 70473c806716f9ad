/**
 * @module Entry points of the dashboard, loaded lazily by src/cli/tui.ts so nothing else
 * pays for React: `runDashboard` mounts the ink app on the alternate screen (≤ 10 frames
 * per second) and resolves when the operator quits; `runPlainSummary` is the fallback when
 * stdout is not a terminal (one text line per period). `isInteractive` says which applies.
 * It never stops a server itself: the caller decides what quitting means.
 */
import { render } from "ink";
import { Dashboard } from "./app.tsx";
import type { LogTap } from "./log_tap.ts";
import type { DashboardSnapshot, DashboardSource } from "./source.ts";
import { headerLines, ratesBetween } from "./tables.ts";

/** Frame cap: the terminal is redrawn at most this often. */
export const MAX_FPS = 10;

/** True when the dashboard can draw: stdout is a terminal. */
export function isInteractive(): boolean {
  return Deno.stdout.isTerminal();
}

/** Shows the dashboard until the operator quits (q, Ctrl-C). */
export async function runDashboard(source: DashboardSource, tap: LogTap): Promise<void> {
  const instance = render(<Dashboard source={source} tap={tap} />, {
    maxFps: MAX_FPS,
    alternateScreen: true,
    // A CI variable in the environment must not turn the dashboard into a one-shot print.
    interactive: true,
    exitOnCtrlC: true,
    patchConsole: true,
  });
  try {
    await instance.waitUntilExit();
  } finally {
    instance.cleanup();
  }
}

/**
 * Non-terminal fallback for `sipws tui`: prints the header lines every period until
 * `signal` aborts. Resolves on abort.
 */
export async function runPlainSummary(
  source: DashboardSource,
  signal: AbortSignal,
  write: (line: string) => void = (l) => console.log(l),
): Promise<void> {
  let previous: DashboardSnapshot | undefined;
  while (!signal.aborted) {
    try {
      const s = await source.snapshot();
      const [a, b] = headerLines(s, ratesBetween(previous, s), source.origin, s.takenAt);
      write(`${a} | ${b}`);
      previous = s;
    } catch (e) {
      write(`error: ${source.origin}: ${e instanceof Error ? e.message : String(e)}`);
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(1000, source.pollMs));
      signal.addEventListener("abort", () => {
        clearTimeout(timer);
        resolve();
      }, { once: true });
    });
  }
}
