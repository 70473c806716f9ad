/**
 * @module Polling for integration tests: wait, bounded in time, for a condition that a
 * server or a page reaches on its own.
 */

/** Poll `check` every 50 ms until it yields a value other than undefined, or throw. */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
  detail?: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw new Error(
        `timeout after ${timeoutMs} ms waiting for ${what}${detail ? `\n${detail()}` : ""}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
