/**
 * @module The command line of `deno task bench` (bench/run.ts): its phases, which of them
 * run (`--only=`, `--skip=`), every `--name=value` flag with its default and meaning, and the
 * `--help` text built from those tables. An unknown flag or phase is an error, so a typo
 * never starts a long run. Not part of the product.
 */

/** The phases in the order they run (overload and soak reuse open-loop's UDP limit). */
export const PHASES = {
  "closed": "closed-loop REGISTER + digest, UDP and TCP, sipws and Kamailio (register_load.ts)",
  "open-loop":
    "sipp open-loop ladders on one fresh process per server: REGISTER UDP, REGISTER TCP, calls UDP, calls TCP",
  "overload": "2× sipws's UDP REGISTER limit for --overload-s, fresh sipws and Kamailio",
  "call-overload":
    "2× sipws's UDP call limit for --overload-s over UDP then TCP, fresh sipws and Kamailio",
  "soak": "half sipws's UDP REGISTER limit for --soak-s, fresh sipws, memory every 10 s",
  "calls": "closed-loop calls through the proxy, UDP then TCP, and a long hold (call_bench.ts)",
  "micro": "parser and transaction layer in-process (parser_bench.ts, transaction_bench.ts)",
  "tui": "REGISTER with the dashboard on and off (tui_bench.ts)",
  "conn":
    "TCP/TLS/WSS connection churn and idle WebSocket clients (churn_bench.ts, ws_idle_bench.ts)",
  "cluster": "standalone vs a 2-node cluster on one Redis (cluster_bench.ts)",
  "workers":
    "--workers 1 vs --workers 2 (workers_bench.ts; calls: workers_calls.ts with call_flood)",
} as const;

export type PhaseName = keyof typeof PHASES;

const DEFAULTS = {
  registerRates: "2000,4000,6000,8000,10000,12000,15000,18000,21000,25000,30000",
  callLadderRates: "200,400,800,1200,1600,2400,3200",
};

/** Flags with a value: name → [default, meaning]. */
const VALUE_FLAGS: Record<string, [string, string]> = {
  only: ["all", "comma-separated phases to run, e.g. --only=open-loop,overload,soak"],
  skip: ["none", "comma-separated phases not to run"],
  duration: ["5000", "ms measured per closed-loop phase (closed, cluster, workers)"],
  warmup: ["1000", "ms of closed-loop warm-up"],
  concurrency: ["20", "closed-loop simulated agents"],
  "register-rates": [DEFAULTS.registerRates, "open-loop REGISTER ladder, /s"],
  "call-ladder-rates": [DEFAULTS.callLadderRates, "open-loop call ladder, calls/s"],
  "step-s": ["6 (--quick: 3)", "seconds per open-loop step"],
  "overload-s": ["30 (--quick: 10)", "seconds of overload"],
  "overload-generator": [
    "register_flood",
    "what offers the overload's 2× REGISTER: register_flood (bench/loadgen, compiled with cc) " +
    "or sipp",
  ],
  "workers-generator": [
    "register_flood",
    "what offers the workers phase's REGISTER closed loop over UDP and TCP (200 in flight " +
    "unless --concurrency): register_flood or sipp",
  ],
  "soak-s": ["600 (--quick: 60)", "seconds of soak"],
  capacity: [
    "this run's open-loop UDP REGISTER limit, else a 3 s-step probe",
    "sipws's UDP REGISTER capacity for overload and soak, /s",
  ],
  "call-capacity": [
    "this run's open-loop UDP call limit, else a 3 s-step probe",
    "sipws's UDP call capacity for call-overload, calls/s",
  ],
  "call-overload-transports": [
    "udp,tcp",
    "call-overload's transports (tcp alone needs --call-capacity)",
  ],
  "call-rates": ["400,800,...,4800", "closed-loop call ladder, calls/s"],
  "hold-calls": ["5000", "calls of the closed-loop long hold (UDP; 0 skips it)"],
  "churn-cycles": ["2000", "connect/close cycles per port"],
  "ws-clients": ["5000", "idle WebSocket clients"],
  "ws-hold": ["60", "seconds the idle WebSocket clients are held"],
  "sipws-workers": [
    "the product's (one per core)",
    "sipws's --workers in every phase but workers (which compares 1 and 2)",
  ],
};

const SWITCHES: Record<string, string> = {
  help: "print this and exit without running anything",
  write: "write the phases that ran into bench/RESULTS.md (their sections only) and, after a " +
    "run of every phase the README table reads, the README's benchmark block",
  quick: "shorter open-loop steps, overload and soak (see the defaults)",
  "no-kamailio": "sipws only",
};

export function helpText(): string {
  const lines = [
    "deno task bench [flags]   (bench/run.ts)",
    "",
    "Measures sipws and Kamailio 5.6 side by side on this machine; every load is bounded in",
    "time and count. Prints a table per phase and one JSON line at the end.",
    "",
    "phases (in run order):",
    ...Object.entries(PHASES).map(([n, what]) => `  ${n.padEnd(14)} ${what}`),
    "",
    "flags:",
    ...Object.entries(SWITCHES).map(([n, what]) => `  --${n.padEnd(18)} ${what}`),
    ...Object.entries(VALUE_FLAGS).map(([n, [def, what]]) =>
      `  --${(n + "=").padEnd(18)} ${what} (default ${def})`
    ),
  ];
  return lines.join("\n");
}

export interface BenchFlags {
  help: boolean;
  write: boolean;
  quick: boolean;
  kamailio: boolean;
  phases: PhaseName[];
  /** A `--name=value` flag's value, undefined when not given. */
  value(name: string): string | undefined;
  /** A numeric flag, or `fallback`. */
  num(name: string, fallback: number): number;
  /** A comma-separated list of numbers, or `fallback`'s. */
  list(name: string, fallback?: string): number[] | undefined;
}

function phaseList(text: string): PhaseName[] {
  const names = text.split(",").map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!(n in PHASES)) {
      throw new Error(`unknown phase "${n}" (phases: ${Object.keys(PHASES).join(", ")})`);
    }
  }
  return names as PhaseName[];
}

/** Parses `args`; throws on an unknown flag, phase or a malformed value. */
export function parseFlags(args: readonly string[]): BenchFlags {
  const values = new Map<string, string>();
  const switches = new Set<string>();
  for (const a of args) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`unexpected argument "${a}"`);
    const [, name, value] = m;
    if (value !== undefined && name in VALUE_FLAGS) values.set(name, value);
    else if (value === undefined && name in SWITCHES) switches.add(name);
    else throw new Error(`unknown flag "${a}" (see --help)`);
  }
  const only = values.has("only") ? phaseList(values.get("only")!) : Object.keys(PHASES);
  const skip = new Set(values.has("skip") ? phaseList(values.get("skip")!) : []);
  const phases = (Object.keys(PHASES) as PhaseName[]).filter((p) =>
    only.includes(p) && !skip.has(p)
  );
  const num = (name: string, fallback: number) => {
    const v = values.get(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}=${v}: not a number ≥ 0`);
    return n;
  };
  const generator = values.get("overload-generator");
  if (generator !== undefined && generator !== "sipp" && generator !== "register_flood") {
    throw new Error(`--overload-generator=${generator}: register_flood or sipp`);
  }
  const list = (name: string, fallback?: string) => {
    const v = values.get(name) ?? fallback;
    if (v === undefined) return undefined;
    const ns = v.split(",").map(Number);
    if (ns.some((n) => !Number.isFinite(n) || n <= 0)) throw new Error(`--${name}=${v}: bad list`);
    return ns;
  };
  return {
    help: switches.has("help"),
    write: switches.has("write"),
    quick: switches.has("quick"),
    kamailio: !switches.has("no-kamailio"),
    phases,
    value: (name) => values.get(name),
    num,
    list,
  };
}

export { DEFAULTS as RATE_DEFAULTS };
