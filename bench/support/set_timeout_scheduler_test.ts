import assert from "node:assert/strict";
import { SetTimeoutScheduler } from "./set_timeout_scheduler.ts";

Deno.test("setTimeout baseline scheduler: schedule, cancel, close", async () => {
  const s = new SetTimeoutScheduler();
  let fired = 0;
  s.schedule(5, () => fired++);
  const h = s.schedule(5, () => fired += 10);
  s.cancel(h);
  assert.equal(s.size, 1);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(fired, 1);
  s.schedule(1000, () => fired++);
  s.close();
  assert.equal(s.size, 0);
});
