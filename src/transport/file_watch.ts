/**
 * @module Notices that files changed on disk by polling their metadata (mtime, size, inode)
 * every `intervalMs`: robust to the atomic rename-and-symlink swaps ACME clients do, where
 * inotify watches lose track of the file. It only reports a change; the caller decides what
 * to reload. Stat failures (a file briefly missing mid-swap) count as a state too, so the
 * change is reported again once the file is back.
 */

export interface FileWatch {
  close(): void;
}

async function fingerprint(paths: readonly string[]): Promise<string> {
  const parts = await Promise.all(paths.map(async (path) => {
    try {
      const s = await Deno.stat(path);
      return `${s.mtime?.getTime()}|${s.size}|${s.ino ?? ""}`;
    } catch {
      return "missing";
    }
  }));
  return parts.join(";");
}

/**
 * Calls `onChange` (never twice at once) whenever any of the files `paths()` names changes;
 * `paths` is asked on every poll, so a reload that names other files is followed.
 */
export function watchFiles(
  paths: () => readonly string[],
  intervalMs: number,
  onChange: () => Promise<void>,
): FileWatch {
  let last: string | undefined;
  let busy = false;
  let closed = false;
  const tick = async () => {
    if (busy || closed) return;
    busy = true;
    try {
      const now = await fingerprint(paths());
      if (last !== undefined && now !== last && !closed) await onChange().catch(() => {});
      last = now;
    } finally {
      busy = false;
    }
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  return {
    close() {
      closed = true;
      clearInterval(timer);
    },
  };
}
