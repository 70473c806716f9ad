/**
 * @module Namespace side of the browser relay. Chromium runs in a network namespace that
 * has only `lo`, so it cannot reach the test servers on the host's loopback. This script
 * runs inside that namespace (started by the browser wrapper script before it execs
 * Chromium) and listens on 127.0.0.1:PORT for each relayed port; every accepted
 * connection is forwarded to the filesystem unix socket `<dir>/port-<PORT>.sock`, whose
 * host-side listener (tests/support/browser.ts) connects to the host's 127.0.0.1:PORT.
 * Filesystem unix sockets are not scoped by network namespace, which is what lets bytes
 * cross. It exits by itself when its parent (Chromium) goes away. Configuration comes from
 * the environment: SIPWS_RELAY_PORTS (comma list), SIPWS_RELAY_DIR, SIPWS_RELAY_READY (a
 * file created once every listener is bound). It must not relay anything else.
 */

/** Copy `from` to `to` until EOF, then half-close `to`; errors end the copy quietly. */
export async function pump(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  try {
    while (true) {
      const n = await from.read(buf);
      if (n === null) break;
      let off = 0;
      while (off < n) off += await to.write(buf.subarray(off, n));
    }
    await to.closeWrite();
  } catch {
    // Peer reset or closed: the caller closes both ends.
  }
}

/** Forward bytes both ways between `a` and `b`, then close both. */
export async function splice(a: Deno.Conn, b: Deno.Conn): Promise<void> {
  await Promise.all([pump(a, b), pump(b, a)]);
  for (const c of [a, b]) {
    try {
      c.close();
    } catch {
      // Already closed.
    }
  }
}

/** The unix socket path used for relayed `port` under `dir`. */
export function relaySocketPath(dir: string, port: number): string {
  return `${dir}/port-${port}.sock`;
}

function parentPid(): number {
  // /proc/self/stat: "pid (comm) state ppid ..."; comm may contain spaces and ')'.
  const stat = Deno.readTextFileSync("/proc/self/stat");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

async function serve(listener: Deno.Listener, socketPath: string): Promise<void> {
  for await (const inbound of listener) {
    Deno.connect({ transport: "unix", path: socketPath }).then(
      (outbound) => splice(inbound, outbound),
      (e) => {
        console.error(`netns_relay: ${socketPath}: ${e}`);
        inbound.close();
      },
    );
  }
}

if (import.meta.main) {
  const ports = (Deno.env.get("SIPWS_RELAY_PORTS") ?? "").split(",").filter((p) => p)
    .map(Number);
  const dir = Deno.env.get("SIPWS_RELAY_DIR");
  const ready = Deno.env.get("SIPWS_RELAY_READY");
  if (!dir || !ready || ports.some((p) => !(p > 0 && p < 65536))) {
    console.error("netns_relay: need SIPWS_RELAY_PORTS, SIPWS_RELAY_DIR, SIPWS_RELAY_READY");
    Deno.exit(2);
  }
  const listeners = ports.map((port) => Deno.listen({ hostname: "127.0.0.1", port }));
  listeners.forEach((l, i) => serve(l, relaySocketPath(dir, ports[i])));
  Deno.writeTextFileSync(ready, String(Deno.pid));
  // Exit with the browser: when Chromium exits we are re-parented.
  const parent = parentPid();
  setInterval(() => {
    if (parentPid() !== parent) Deno.exit(0);
  }, 200);
}
