import assert from "node:assert/strict";
import { README_BEGIN, README_END, replaceReadmeBlock, replaceSections } from "./results_file.ts";
import { parseFlags } from "./bench_flags.ts";

const OLD = [
  "# Benchmark results",
  "",
  "old preamble",
  "",
  "## Closed loop: REGISTER + digest",
  "",
  "closed old",
  "",
  "## Open loop: REGISTER + digest ladder, overload, soak",
  "",
  "open old",
  "",
  "## Open-loop call ladder: calls",
  "",
  "calls ladder old",
  "",
  "## Cost changes",
  "",
  "| a | b |",
  "",
].join("\n");
const GENERATED = ["## Closed loop", "## Open loop", "## Open-loop call ladder", "## Overload"];

Deno.test("a partial write replaces only the sections of the phases that ran", () => {
  const out = replaceSections(OLD, [
    { heading: "## Overload", markdown: "## Overload\n\noverload new" },
  ], GENERATED);
  assert.match(out, /closed old/);
  assert.match(out, /open old/);
  assert.match(out, /calls ladder old/);
  assert.match(out, /\| a \| b \|/);
  // A new section goes after the generated ones, before the hand-kept table.
  assert.ok(out.indexOf("overload new") > out.indexOf("calls ladder old"));
  assert.ok(out.indexOf("overload new") < out.indexOf("## Cost changes"));
});

Deno.test("a section takes the place of the older sections it replaces", () => {
  const out = replaceSections(OLD, [{
    heading: "## Open loop: all four",
    replaces: ["## Open loop", "## Open-loop call ladder"],
    markdown: "## Open loop: all four\n\nopen new",
  }], GENERATED);
  assert.doesNotMatch(out, /open old|calls ladder old/);
  assert.ok(out.indexOf("closed old") < out.indexOf("open new"));
  assert.ok(out.indexOf("open new") < out.indexOf("## Cost changes"));
  assert.equal(out.match(/## Open loop/g)?.length, 1);
});

Deno.test("the README block is replaced between its markers only", () => {
  const readme = `# x\n\nbefore\n${README_BEGIN}\nold table\n${README_END}\nafter\n`;
  const out = replaceReadmeBlock(readme, "| new |");
  assert.match(out, /before\n/);
  assert.match(out, /\| new \|/);
  assert.doesNotMatch(out, /old table/);
  assert.match(out, /after\n$/);
  assert.throws(() => replaceReadmeBlock("# no markers", "x"));
});

Deno.test("flags: --only picks phases in run order; unknown flags and phases are errors", () => {
  assert.deepEqual(parseFlags(["--only=soak,open-loop,overload"]).phases, [
    "open-loop",
    "overload",
    "soak",
  ]);
  assert.ok(!parseFlags(["--skip=soak"]).phases.includes("soak"));
  assert.equal(parseFlags(["--help"]).help, true);
  assert.throws(() => parseFlags(["--only=sok"]), /unknown phase/);
  assert.throws(() => parseFlags(["--no-micro"]), /unknown flag/);
  assert.throws(() => parseFlags(["--step-s=x"]).num("step-s", 6), /not a number/);
});
