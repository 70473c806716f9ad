/**
 * @module The V8 flags sipws runs with, wherever it is started from: `deno task start`,
 * `deno task compile` / `compile:all` (baked into the binary with `deno compile --v8-flags`),
 * the daemon's and the systemd unit's re-run of itself, and the benches and tests that spawn
 * it. `--max-semi-space-size=8` caps each young-generation semi-space at 8 MiB instead of
 * V8's default 32 MiB: about 45 MB less RSS under load (64 → 16 MB of new space) with no
 * measurable CPU per REGISTER when sipp drives the server (bench/RESULTS.md "Cost changes";
 * 2 and 4 MiB cost 8-15 % more CPU, objects that outlive a short scavenge interval get
 * promoted and then need mark-compacts). `--expose-gc` gives the server's heap governor
 * (src/server/heap_governor.ts) the full collection it forces past its heap budget, instead
 * of V8's growing factor deciding the peak (issue 9's cold-start outliers). Tried and not set: `--heap-growing-percent=50`
 * (old space compacted at 1.5× the live heap instead of V8's up to 4×): 22-28 MB less peak RSS
 * under a REGISTER storm, but 3× as many mark-compacts: about 2 % more CPU per registration
 * and about 7 % per proxied call in GC pauses; `--memory-balancer` (peak RSS under a REGISTER
 * storm 156-170 → 114-133 MB, but 9-23 instead of 4 mark-compacts per 32k proxied calls on a
 * busy box) and `--heap-growing-percent=100` (125 MB, ~2 % per call) likewise: opt-in through
 * `DENO_V8_FLAGS` (docs/performance.md).
 */

/** The flags, as `--v8-flags` takes them. */
export const SERVER_V8_FLAGS = ["--max-semi-space-size=8", "--expose-gc"];

/** The `deno run` / `deno compile` argument that applies them. */
export const V8_FLAGS_ARG = `--v8-flags=${SERVER_V8_FLAGS.join(",")}`;

/**
 * `deno run` only: a module named by a dynamic `import()` (the server behind `serve`, the
 * dashboard behind `--tui`, the HTTP routes behind `-r`) is loaded when it is first
 * imported. Without it Deno parses the whole graph of every such import at start and keeps
 * it, ink and React included: ~9 MB of native memory in a server that never opens the
 * dashboard (docs/performance.md, idle memory). Never for `deno compile`, whose code-only
 * graph would then leave those modules out of the binary.
 */
export const LAZY_IMPORTS_FLAG = "--unstable-lazy-dynamic-imports";

/** What `deno run` of the server takes before main.ts. */
export const SERVER_RUN_FLAGS = [LAZY_IMPORTS_FLAG, V8_FLAGS_ARG];
