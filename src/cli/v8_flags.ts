/**
 * @module The V8 flags sipws runs with, wherever it is started from: `deno task start`,
 * `deno task compile` / `compile:all` (baked into the binary with `deno compile --v8-flags`),
 * the daemon's and the systemd unit's re-run of itself, and the benches and tests that spawn
 * it. `--max-semi-space-size=8` caps each young-generation semi-space at 8 MiB instead of
 * V8's default 32 MiB: about 45 MB less RSS under load (64 → 16 MB of new space) with no
 * measurable CPU per REGISTER when sipp drives the server (bench/RESULTS.md "Cost changes";
 * 2 and 4 MiB cost 8-15 % more CPU, objects that outlive a short scavenge interval get
 * promoted and then need mark-compacts). `--heap-growing-percent=50` lets old space grow to
 * 1.5× what the last mark-compact left live before the next one, instead of V8's up to 4×
 * under a busy mutator: under a REGISTER load most of old space is promoted garbage (in-flight
 * exchanges that outlived two scavenges), so peak RSS fell 22-28 MB (160-168 → 137-141 MB at
 * 5,000/s, one worker) for more, smaller mark-compacts (+1.4 µs main-thread GC pause per
 * registration; 0-8 % CPU per registration in A/B runs on a busy box).
 */

/** The flags, as `--v8-flags` takes them. */
export const SERVER_V8_FLAGS = ["--max-semi-space-size=8", "--heap-growing-percent=50"];

/** The `deno run` / `deno compile` argument that applies them. */
export const V8_FLAGS_ARG = `--v8-flags=${SERVER_V8_FLAGS.join(",")}`;
