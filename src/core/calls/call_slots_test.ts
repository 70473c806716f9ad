import assert from "node:assert/strict";
import { CallSlots } from "./call_slots.ts";

Deno.test("call slots: one count over shared memory, all or none under max", () => {
  const main = new CallSlots();
  const worker = new CallSlots(main.buffer);
  assert.equal(main.take(2, 3), true);
  assert.equal(worker.open, 2);
  assert.equal(worker.take(2, 3), false, "2 more would make 4 > 3: none taken");
  assert.equal(main.open, 2);
  assert.equal(worker.take(1, 3), true);
  assert.equal(main.take(1, 3), false);
  main.give();
  assert.equal(worker.take(1, 3), true);
  worker.give(3);
  assert.equal(main.open, 0);
});
