/**
 * @module Enforces the layering of DESIGN.md by scanning every import of src/**\/*.ts (and
 * main.ts): static `import`/`export ... from`, side-effect imports, `import type`, and
 * dynamic `import()`. Layers, left to right: sip ← transport ← transaction ← core ←
 * server.ts (with src/server/, its parts, and src/workers/, its worker threads) ← {api, tui} ← cli (cli is the outermost command layer: it composes the server
 * with api and tui). config and store are leaves that import only sip; src/log.ts and
 * src/events.ts are shared and importable by all (events.ts itself may import only
 * transport/types.ts); main.ts imports only cli. A file may import its own folder or
 * folders to its left. Comments and string contents never count as imports.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

type Layer =
  | "sip"
  | "transport"
  | "transaction"
  | "core"
  | "config"
  | "store"
  | "server"
  | "api"
  | "tui"
  | "cli"
  | "log"
  | "events"
  | "main"
  | "project"
  | "outside";

const SHARED: Layer[] = ["log", "events"];
const BELOW_SERVER: Layer[] = ["sip", "transport", "transaction", "core", "config", "store"];

/** What each layer may import (besides npm:, node: and import-map packages). */
const ALLOWED: Record<Layer, Layer[]> = {
  sip: ["sip", ...SHARED],
  config: ["config", "sip", ...SHARED],
  store: ["store", "sip", ...SHARED],
  transport: ["sip", "transport", ...SHARED],
  transaction: ["sip", "transport", "transaction", ...SHARED],
  core: [...BELOW_SERVER, ...SHARED],
  server: [...BELOW_SERVER, "server", ...SHARED],
  api: [...BELOW_SERVER, "server", "api", ...SHARED],
  tui: [...BELOW_SERVER, "server", "tui", ...SHARED],
  cli: [...BELOW_SERVER, "server", "api", "tui", "cli", "project", ...SHARED],
  log: ["log"],
  events: ["events"], // plus src/transport/types.ts, special-cased in allowedImport
  main: ["cli"],
  project: [],
  outside: [],
};

/** The layer of a repository-relative path such as `src/core/registrar.ts`. */
export function layerOf(file: string): Layer {
  // A unit test beside a top-level module belongs to that module's layer.
  const path = file.replace(/^(src\/[a-z_]+)_test\.ts$/, "$1.ts");
  if (path === "main.ts") return "main";
  if (path === "src/server.ts" || /^src\/(server|workers)\//.test(path)) return "server";
  if (path === "src/log.ts") return "log";
  if (path === "src/events.ts") return "events";
  if (path === "deno.json") return "project"; // version metadata read by the CLI
  const m = /^src\/([a-z_]+)\//.exec(path);
  if (m && m[1] in ALLOWED && !["server", "log", "events", "main"].includes(m[1])) {
    return m[1] as Layer;
  }
  return "outside";
}

/** True when `from` (a repo-relative path) may import `to` (a repo-relative path). */
export function allowedImport(from: string, to: string): boolean {
  const source = layerOf(from);
  if (source === "events" && to === "src/transport/types.ts") return true;
  return ALLOWED[source].includes(layerOf(to));
}

/**
 * Source text with comments blanked out (strings kept), so commented-out or documented
 * imports do not count. Understands '...', "...", `...${...}...` and regex-free TS.
 */
export function stripComments(src: string): string {
  let out = "";
  let i = 0;
  // Stack of template-literal brace depths: non-empty while inside `${ ... }`.
  const templates: number[] = [];
  let mode: "code" | "line" | "block" | "'" | '"' | "`" = "code";
  while (i < src.length) {
    const c = src[i];
    const next = src[i + 1];
    if (mode === "code") {
      if (c === "/" && next === "/") {
        mode = "line";
        i += 2;
        continue;
      }
      if (c === "/" && next === "*") {
        mode = "block";
        i += 2;
        continue;
      }
      if (c === "'" || c === '"' || c === "`") mode = c;
      else if (c === "{" && templates.length) templates[templates.length - 1]++;
      else if (c === "}" && templates.length) {
        if (templates[templates.length - 1] === 0) {
          templates.pop();
          mode = "`";
        } else templates[templates.length - 1]--;
      }
      out += c;
      i++;
    } else if (mode === "line") {
      if (c === "\n") {
        mode = "code";
        out += c;
      }
      i++;
    } else if (mode === "block") {
      if (c === "*" && next === "/") {
        mode = "code";
        i += 2;
        out += " ";
        continue;
      }
      if (c === "\n") out += c;
      i++;
    } else {
      if (c === "\\") {
        out += c + (next ?? "");
        i += 2;
        continue;
      }
      if (mode === "`" && c === "$" && next === "{") {
        templates.push(0);
        mode = "code";
        out += "${";
        i += 2;
        continue;
      }
      if (c === mode) mode = "code";
      out += c;
      i++;
    }
  }
  return out;
}

export interface ImportRef {
  specifier: string;
  dynamic: boolean;
  line: number;
}

/** Every import specifier in `src`; a dynamic import of a computed value gets specifier "". */
export function findImports(src: string): ImportRef[] {
  const code = stripComments(src);
  const refs: ImportRef[] = [];
  const lineAt = (index: number) => code.slice(0, index).split("\n").length;
  const patterns: [RegExp, boolean][] = [
    // import x from "m"; import { a, type b } from "m"; import type T from "m"; import * as n from "m"
    [/(?:^|[;\s])import\s+(?:type\s+)?[\w$*{},\s]+?\s+from\s*["']([^"']+)["']/g, false],
    // import "m";
    [/(?:^|[;\s])import\s*["']([^"']+)["']/g, false],
    // export * from "m"; export { a } from "m"; export type { T } from "m"
    [
      /(?:^|[;\s])export\s+(?:type\s+)?(?:\*(?:\s+as\s+[\w$]+)?|\{[^}]*\})\s*from\s*["']([^"']+)["']/g,
      false,
    ],
    // import("m") / import(`m`)
    [/\bimport\s*\(\s*["'`]([^"'`$]+)["'`]\s*[,)]/g, true],
  ];
  for (const [re, dynamic] of patterns) {
    for (const m of code.matchAll(re)) {
      refs.push({ specifier: m[1], dynamic, line: lineAt(m.index! + m[0].indexOf(m[1])) });
    }
  }
  // import(expr) with a computed specifier cannot be checked: report it.
  for (const m of code.matchAll(/\bimport\s*\(\s*(?!["'`]\s*[^"'`$]*["'`]\s*[,)])([^)]*)\)/g)) {
    if (/^["'`][^"'`$]*["'`]/.test(m[1].trim())) continue;
    refs.push({ specifier: "", dynamic: true, line: lineAt(m.index!) });
  }
  return refs.sort((a, b) => a.line - b.line);
}

async function sourceFiles(): Promise<string[]> {
  const files: string[] = ["main.ts"];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(new URL(dir, ROOT))) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(path);
      else if (e.isFile && /\.tsx?$/.test(e.name)) files.push(path);
    }
  };
  await walk("src");
  return files.sort();
}

/** Violations in the repository: "file:line imports spec (layer → layer)". */
export async function layeringViolations(): Promise<string[]> {
  const violations: string[] = [];
  for (const file of await sourceFiles()) {
    const text = await Deno.readTextFile(new URL(file, ROOT));
    for (const ref of findImports(text)) {
      const where = `${file}:${ref.line}`;
      const kind = ref.dynamic ? "dynamically imports" : "imports";
      if (ref.specifier === "") {
        violations.push(`${where} ${kind} a computed specifier (cannot be checked)`);
        continue;
      }
      if (/^(jsr:|https?:)/.test(ref.specifier)) {
        violations.push(`${where} ${kind} ${ref.specifier} (only npm:, node: and local files)`);
        continue;
      }
      if (!ref.specifier.startsWith(".")) continue; // npm:, node:, import-map names
      const target = new URL(ref.specifier, new URL(file, ROOT)).href.slice(ROOT.href.length);
      if (!allowedImport(file, target)) {
        violations.push(
          `${where} ${kind} ${ref.specifier} (${layerOf(file)} → ${layerOf(target)})`,
        );
      }
    }
  }
  return violations;
}

Deno.test("layering: the rule table", () => {
  assert.ok(allowedImport("src/core/registrar.ts", "src/sip/message.ts"));
  assert.ok(allowedImport("src/core/registrar.ts", "src/config/config.ts"));
  assert.ok(allowedImport("src/transport/layer.ts", "src/events.ts"));
  assert.ok(allowedImport("src/events.ts", "src/transport/types.ts"));
  assert.ok(allowedImport("src/cli/serve.ts", "src/api/http_server.ts"));
  assert.ok(allowedImport("main.ts", "src/cli/main.ts"));
  assert.ok(!allowedImport("src/sip/parse.ts", "src/transport/types.ts"));
  assert.ok(!allowedImport("src/transport/udp.ts", "src/transaction/layer.ts"));
  assert.ok(!allowedImport("src/transaction/layer.ts", "src/core/router.ts"));
  assert.ok(!allowedImport("src/core/router.ts", "src/server.ts"));
  assert.ok(!allowedImport("src/server.ts", "src/api/app.ts"));
  assert.ok(!allowedImport("src/api/app.ts", "src/cli/main.ts"));
  assert.ok(!allowedImport("src/api/app.ts", "src/tui/format.ts"));
  assert.ok(!allowedImport("src/config/config.ts", "src/store/account.ts"));
  assert.ok(!allowedImport("src/store/account.ts", "src/core/location.ts"));
  assert.ok(!allowedImport("src/events.ts", "src/core/location.ts"));
  assert.ok(!allowedImport("src/core/auth.ts", "tests/support/ports.ts"));
  assert.ok(!allowedImport("main.ts", "src/server.ts"));
});

Deno.test("layering: the scanner sees every import form and ignores comments", () => {
  const src = [
    '// import { x } from "../core/commented.ts";',
    "/* import y from '../core/block.ts'; */",
    'import type { A } from "../core/a.ts";',
    'import { b, type C } from "./b.ts";',
    'import * as d from "../d.ts";',
    'import "./side.ts";',
    'export * from "../transaction/e.ts";',
    "export { f } from '../f.ts';",
    "const s = \"import z from '../core/in_string.ts'\"; // not code",
    'const g = await import("../server.ts");',
    "const h = await import(`./h.ts`);",
    "const i = await import(name);",
  ].join("\n");
  assert.deepEqual(
    findImports(src).map((r) => `${r.line}:${r.dynamic ? "dyn:" : ""}${r.specifier}`),
    [
      "3:../core/a.ts",
      "4:./b.ts",
      "5:../d.ts",
      "6:./side.ts",
      "7:../transaction/e.ts",
      "8:../f.ts",
      "10:dyn:../server.ts",
      "11:dyn:./h.ts",
      "12:dyn:",
    ],
  );
});

Deno.test("layering: the scanner finds the real imports (multi-line, dynamic)", async () => {
  const server = findImports(await Deno.readTextFile(new URL("src/server.ts", ROOT)));
  for (const spec of ["./transport/layer.ts", "./core/router.ts", "./config/config.ts"]) {
    assert.ok(server.some((r) => r.specifier === spec && !r.dynamic), spec);
  }
  const serve = findImports(await Deno.readTextFile(new URL("src/cli/serve.ts", ROOT)));
  assert.ok(serve.some((r) => r.specifier === "../server.ts" && r.dynamic));
  const multi = findImports('import {\n  a,\n  type B,\n} from "../core/x.ts";\n');
  assert.deepEqual(multi.map((r) => r.specifier), ["../core/x.ts"]);
  // Every relative import line of src/server.ts is found.
  const text = await Deno.readTextFile(new URL("src/server.ts", ROOT));
  const expected = [...text.matchAll(/^import [^;]*? from "(\.[^"]+)";/gms)].map((m) => m[1]);
  assert.deepEqual(
    server.filter((r) => r.specifier.startsWith(".")).map((r) => r.specifier).sort(),
    expected.sort(),
  );
});

Deno.test("layering: no file in src/ imports from a layer to its right", async () => {
  const violations = await layeringViolations();
  assert.deepEqual(violations, [], `layering violations:\n${violations.join("\n")}`);
});

/**
 * Places that build a flow (and so a flow id) outside src/transport: an import of the id
 * builder, a `Flow` object literal (its `reliable:` and `secure:` fields), or an id in the
 * transport's `<transport>:` shape assembled by hand. Flow ids are globally unique only
 * because the transport layer alone makes them (flow_id.ts).
 */
export function flowIdBuilders(file: string, src: string): string[] {
  if (file.startsWith("src/transport/") || /_test\.tsx?$/.test(file)) return [];
  const text = stripComments(src);
  const found: string[] = [];
  const lineOf = (at: number) => text.slice(0, at).split("\n").length;
  for (const ref of findImports(src)) {
    if (/(^|\/)flow_id\.ts$/.test(ref.specifier)) {
      found.push(`${file}:${ref.line} imports the flow id builder`);
    }
  }
  // `reliable: <value>, secure: <value>` in a literal (a type says `reliable: boolean;`).
  for (const m of text.matchAll(/\breliable\s*:\s*(?!boolean\b)[^,;\n]+,\s*secure\s*:/g)) {
    found.push(`${file}:${lineOf(m.index)} builds a Flow literal`);
  }
  for (const m of text.matchAll(/\bid\s*:\s*`(udp|tcp|tls|wss?):/g)) {
    found.push(`${file}:${lineOf(m.index)} builds a flow id`);
  }
  return found;
}

Deno.test("layering: the flow-id scan sees a hand-made flow and an id builder import", () => {
  // The shape proxy.ts once had: a nested address between the fields.
  const handMade = `const f = {\n  id: "",\n  transport: "udp",\n  remote: { host, port },\n` +
    `  reliable: false,\n  secure: false,\n};`;
  assert.deepEqual(flowIdBuilders("src/core/x.ts", handMade), [
    "src/core/x.ts:5 builds a Flow literal",
  ]);
  assert.deepEqual(
    flowIdBuilders("src/core/x.ts", 'import { streamFlowId } from "../transport/flow_id.ts";'),
    ["src/core/x.ts:1 imports the flow id builder"],
  );
  assert.deepEqual(flowIdBuilders("src/core/x.ts", "const g = { id: `ws:${n}` };"), [
    "src/core/x.ts:1 builds a flow id",
  ]);
  assert.deepEqual(flowIdBuilders("src/transport/udp.ts", handMade), [], "transport may");
});

Deno.test("layering: no file outside src/transport builds a flow id", async () => {
  const found: string[] = [];
  for (const file of await sourceFiles()) {
    found.push(...flowIdBuilders(file, await Deno.readTextFile(new URL(file, ROOT))));
  }
  assert.deepEqual(found, [], `flow ids built outside src/transport:\n${found.join("\n")}`);
});

/** True for plain data: what survives JSON or structured clone (no Map, no method, no class). */
type IsPlain<T> = T extends string | number | boolean | null | undefined ? true
  : T extends readonly (infer E)[] ? IsPlain<E>
  // deno-lint-ignore ban-types
  : T extends Function ? false
  : T extends object ? (false extends { [K in keyof T]-?: IsPlain<T[K]> }[keyof T] ? false : true)
  : false;

Deno.test("layering: a Binding holds no class instances (plain, serializable data)", async () => {
  const { contactFields } = await import("../src/core/binding.ts");
  const { parseUri } = await import("../src/sip/uri.ts");
  type Binding = import("../src/core/binding.ts").Binding;
  // The compiler checks the type: a SipUri, a Map or a live connection would fail here.
  const plainType: IsPlain<Binding> = true;
  const notPlain: [IsPlain<{ m: Map<string, string> }>, IsPlain<{ u: { f(): void } }>] = [
    false,
    false,
  ];
  assert.deepEqual([plainType, ...notPlain], [true, false, false]);
  // And a binding as the registrar builds it comes back from JSON unchanged.
  const contact = "sip:k2j3h4@df7jal23ls0d.invalid;transport=ws;ob";
  const binding: Binding = {
    aor: "alice@example.test",
    domain: "example.test",
    user: "alice",
    ...contactFields(contact, parseUri(contact), { instance: "<urn:uuid:1>", regId: 1 }),
    contactParams: ";reg-id=1",
    flow: {
      id: "ws:node.0.1",
      owner: { node: "node", worker: 0 },
      transport: "ws",
      local: { host: "127.0.0.1", port: 8080 },
      remote: { host: "127.0.0.1", port: 40000 },
      reliable: true,
      secure: false,
    },
    callId: "c",
    cseq: 1,
    expiresAt: 2,
    registeredAt: 1,
    instance: "<urn:uuid:1>",
    regId: 1,
    path: [],
    outstandingPings: 0,
  };
  const walk = (v: unknown, at: string): void => {
    if (v === null || typeof v !== "object") return;
    const proto = Object.getPrototypeOf(v);
    assert.ok(proto === Object.prototype || proto === Array.prototype, `${at} is a class instance`);
    for (const [k, child] of Object.entries(v)) walk(child, `${at}.${k}`);
  };
  walk(binding, "binding");
  assert.deepEqual(JSON.parse(JSON.stringify(binding)), JSON.parse(JSON.stringify(binding)));
  assert.deepEqual(structuredClone(binding), binding);
});
