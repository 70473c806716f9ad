/**
 * @module CPU cost of the digest authenticator alone: `verify` of a fresh qop=auth MD5
 * answer, `challenge` (a nonce issued and its header text), and `parseDigest` of the
 * Authorization value sipp sends. Two trees side by side in one process, interleaved rounds
 * (`--root=A --root=B`, default /work/main and this checkout), median µs per call. The
 * answers are made before each timed loop, so only the server's work is timed; the main
 * thread's CPU time is what is timed. Not part of
 * the product: `deno run -A bench/digest_verify.ts --root=/work/main --root=.`
 */
import { argAll } from "./support/args.ts";
import { createHash } from "node:crypto";
const roots = argAll("root");
if (roots.length === 0) roots.push("/work/main", new URL("..", import.meta.url).pathname);
const md5 = (s: string) => createHash("md5").update(s).digest("hex");
const ha1 = md5("bench:example.test:pw");
const ha2 = md5("REGISTER:sip:example.test");
const rigs = await Promise.all(roots.map(async (r) => {
  const { DigestAuthenticator } = await import(`${r}/src/core/auth.ts`);
  const { parseDigest } = await import(`${r}/src/sip/digest.ts`);
  const a = new DigestAuthenticator({ algorithms: ["MD5"], nonceTtlSeconds: 300 });
  return { a, parseDigest };
}));
// Pre-build credentials per rig so only server work is timed.
const M = 2000;
// deno-lint-ignore no-explicit-any
function creds(a: any): string[] {
  const out: string[] = [];
  for (let i = 0; i < M; i++) {
    const nonce = /nonce="([^"]+)"/.exec(a.challenge("example.test")[0])![1];
    const cn = `c${i}`;
    const resp = md5(`${ha1}:${nonce}:00000001:${cn}:auth:${ha2}`);
    out.push(
      `Digest username="bench",realm="example.test",uri="sip:example.test",nonce="${nonce}",response="${resp}",algorithm=MD5,cnonce="${cn}",qop=auth,nc=00000001`,
    );
  }
  return out;
}
const res: Record<string, number[][]> = {
  verify: roots.map(() => []),
  challenge: roots.map(() => []),
  parse: roots.map(() => []),
};
/** The main thread's CPU time in ms (/proc/thread-self/schedstat): steadier than wall time on a shared box. */
const cpuMs = () =>
  Number(Deno.readTextFileSync("/proc/thread-self/schedstat").split(" ")[0]) / 1e6;
for (let r = 0; r < 16; r++) {
  for (let k = 0; k < rigs.length; k++) {
    const { a, parseDigest } = rigs[k];
    const cs = creds(a);
    let t = cpuMs();
    for (let i = 0; i < M; i++) {
      const v = a.verify("REGISTER", [cs[i]], "example.test", () => ha1);
      if (!v.ok) throw new Error(JSON.stringify(v));
    }
    res.verify[k].push((cpuMs() - t) * 1000 / M);
    t = cpuMs();
    for (let i = 0; i < 20000; i++) a.challenge("example.test");
    res.challenge[k].push((cpuMs() - t) * 1000 / 20000);
    t = cpuMs();
    for (let j = 0; j < 10; j++) for (let i = 0; i < M; i++) parseDigest(cs[i]);
    res.parse[k].push((cpuMs() - t) * 1000 / M / 10);
  }
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1].toFixed(3);
for (const [n, v] of Object.entries(res)) {
  console.log(
    n.padEnd(10),
    roots.map((r, k) => `${r}: ${med(v[k])} µs`).join("  "),
  );
}
