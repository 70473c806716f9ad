/**
 * @module TCP_NODELAY on every SIP stream connection (Nagle off): accepted ones, plain and
 * TLS, inherit it from the listener (socket_options.ts, listener.ts); dialled ones, plain and
 * TLS, get it before the first byte (dial.ts). Read back from the kernel with getsockopt on
 * the connection's descriptor (Linux, FFI), found by its ports in /proc/net/tcp.
 */
import assert from "node:assert/strict";
import { dial } from "../src/transport/dial.ts";
import { ReloadableListener } from "../src/transport/listener.ts";
import { intOption } from "../src/transport/socket_options.ts";
import { makeSelfSignedCert } from "./support/certs.ts";

const IPPROTO_TCP = 6;
const TCP_NODELAY = 1;

/** TCP_NODELAY of this process's IPv4 socket from `localPort` to `remotePort`. */
function noDelay(localPort: number, remotePort: number): number {
  const hex = (p: number) => ":" + p.toString(16).toUpperCase().padStart(4, "0");
  const line = Deno.readTextFileSync("/proc/net/tcp").split("\n").map((l) => l.trim().split(/\s+/))
    .find((f) => f[1]?.endsWith(hex(localPort)) && f[2]?.endsWith(hex(remotePort)));
  assert.ok(line, `no socket ${localPort} → ${remotePort}`);
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    let target = "";
    try {
      target = Deno.readLinkSync(`/proc/self/fd/${entry.name}`);
    } catch { /* closed meanwhile */ }
    if (target !== `socket:[${line[9]}]`) continue;
    const value = intOption(Number(entry.name), IPPROTO_TCP, TCP_NODELAY);
    assert.notEqual(value, undefined, "getsockopt(TCP_NODELAY) failed");
    return value!;
  }
  throw new Error(`no descriptor for socket ${localPort} → ${remotePort}`);
}

async function acceptedAndDialled(tls?: { cert: string; key: string }) {
  const accepted: Deno.Conn[] = [];
  const listener = new ReloadableListener("127.0.0.1", 0, tls, (c) => accepted.push(c));
  listener.run();
  const port = listener.local.port;
  const client = await dial("127.0.0.1", port, { tls: !!tls, caCerts: tls && [tls.cert] });
  try {
    if (tls) await (client as Deno.TlsConn).handshake();
    else await client.write(new Uint8Array([13, 10]));
    while (accepted.length === 0) await new Promise((r) => setTimeout(r, 5));
    const clientPort = (client.localAddr as Deno.NetAddr).port;
    return { server: noDelay(port, clientPort), client: noDelay(clientPort, port) };
  } finally {
    client.close();
    for (const c of accepted) c.close();
    listener.close();
  }
}

Deno.test({
  name: "TCP: accepted and dialled connections have TCP_NODELAY",
  ignore: Deno.build.os !== "linux",
  async fn() {
    assert.deepEqual(await acceptedAndDialled(), { server: 1, client: 1 });
  },
});

Deno.test({
  name: "TLS: accepted and dialled connections have TCP_NODELAY",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "sipws-nodelay-" });
    try {
      const pair = await makeSelfSignedCert(dir);
      assert.deepEqual(await acceptedAndDialled(pair), { server: 1, client: 1 });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
