import assert from "node:assert/strict";
import type { TransportSink } from "./connection.ts";
import { UdpTransport } from "./udp.ts";
import { ipv6Text } from "./udp_batch.ts";
import { UdpSyscallSender } from "./udp_send.ts";
import type { Flow } from "./types.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A sink recording what the transport hands up. */
function recorder() {
  const delivered: { text: string; flow: Flow }[] = [];
  const dropped: { flow: Flow; reason: string }[] = [];
  const sink: TransportSink = {
    owner: { node: "t", worker: 0 },
    deliver: (bytes, flow) => delivered.push({ text: decoder.decode(bytes), flow }),
    admit: () => true,
    opened: () => {},
    closed: () => {},
    dropped: (flow, reason) => dropped.push({ flow, reason }),
  };
  return { sink, delivered, dropped };
}

async function until(done: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !done(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(done(), what);
}

/** Client sockets that send bursts synchronously (libc), so they queue at the server. */
function clients(host: string, count: number) {
  return Array.from({ length: count }, () => {
    const conn = Deno.listenDatagram({ transport: "udp", hostname: host, port: 0 });
    const port = (conn.addr as Deno.NetAddr).port;
    return { conn, port, sender: UdpSyscallSender.forSocket(host, port)! };
  });
}

Deno.test({
  name: "udp: a burst queued at the socket is delivered whole, in order, one flow per peer",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const { sink, delivered } = recorder();
    const udp = new UdpTransport("127.0.0.1", 0, sink, 65536, 1 << 20);
    const loop = udp.run();
    const peers = clients("127.0.0.1", 3);
    try {
      for (let i = 0; i < 100; i++) {
        for (const [p, peer] of peers.entries()) {
          assert.ok(peer.sender.send(encoder.encode(`m ${p} ${i}`), "127.0.0.1", udp.local.port));
        }
      }
      await until(() => delivered.length === 300, `300 delivered (got ${delivered.length})`);
      for (const [p, peer] of peers.entries()) {
        const mine = delivered.filter((d) => d.flow.remote.port === peer.port);
        assert.deepEqual(
          mine.map((d) => d.text),
          Array.from({ length: 100 }, (_, i) => `m ${p} ${i}`),
        );
        assert.equal(new Set(mine.map((d) => d.flow)).size, 1, "one flow object per peer");
        assert.equal(mine[0].flow.remote.host, "127.0.0.1");
      }
    } finally {
      for (const peer of peers) peer.conn.close();
      udp.close();
      await loop;
    }
  },
});

Deno.test({
  name: "udp: on a dual-stack socket, IPv6 and IPv4 peers get the hosts Deno reports",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const { sink, delivered } = recorder();
    const udp = new UdpTransport("::", 0, sink, 65536, 1 << 20);
    const loop = udp.run();
    const peers = [...clients("::1", 1), ...clients("127.0.0.1", 1)];
    try {
      for (let i = 0; i < 40; i++) {
        assert.ok(peers[0].sender.send(encoder.encode(`six ${i}`), "::1", udp.local.port));
        assert.ok(peers[1].sender.send(encoder.encode(`four ${i}`), "127.0.0.1", udp.local.port));
      }
      await until(() => delivered.length === 80, `80 delivered (got ${delivered.length})`);
      const hosts = new Set(delivered.map((d) => `${d.flow.remote.host} ${d.flow.remote.port}`));
      assert.deepEqual(
        [...hosts].sort(),
        [`127.0.0.1 ${peers[1].port}`, `::1 ${peers[0].port}`].sort(),
      );
      assert.equal(new Set(delivered.map((d) => d.flow)).size, 2, "one flow object per peer");
    } finally {
      for (const peer of peers) peer.conn.close();
      udp.close();
      await loop;
    }
  },
});

Deno.test({
  name: "udp: a datagram over the size limit is dropped, the rest of its burst delivered",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const { sink, delivered, dropped } = recorder();
    const udp = new UdpTransport("127.0.0.1", 0, sink, 100, 1 << 20);
    const loop = udp.run();
    const [peer] = clients("127.0.0.1", 1);
    try {
      const sizes = [10, 200, 100, 101, 65000, 20, 100];
      for (const [i, size] of sizes.entries()) {
        const bytes = new Uint8Array(size).fill(65 + i);
        assert.ok(peer.sender.send(bytes, "127.0.0.1", udp.local.port));
      }
      await until(() => delivered.length + dropped.length === sizes.length, "all seen");
      assert.deepEqual(delivered.map((d) => d.text.length), [10, 100, 20, 100]);
      assert.deepEqual(delivered.map((d) => d.text[0]), ["A", "C", "F", "G"]);
      assert.deepEqual(dropped.map((d) => d.reason), Array(3).fill("Message Too Large"));
    } finally {
      peer.conn.close();
      udp.close();
      await loop;
    }
  },
});

Deno.test({
  name: "udp: answers sent while a burst is handed up all arrive, in order, from the socket's port",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const { sink } = recorder();
    const sizes = [40, 2500, 40, 40];
    const notNow: string[] = [];
    let udp: UdpTransport | undefined = undefined;
    // Answers every datagram at once, in the read loop (as the shedder's 503s and the
    // registrar's 401s are): one small, one larger than a batch slot, two small.
    sink.deliver = (bytes, flow) => {
      const text = decoder.decode(bytes);
      for (const [k, size] of sizes.entries()) {
        const answer = encoder.encode(`re ${text} ${k} `.padEnd(size, "."));
        if (udp!.send(answer, flow.remote.host, flow.remote.port) !== true) notNow.push(text);
      }
    };
    udp = new UdpTransport("127.0.0.1", 0, sink, 65536, 1 << 20);
    const loop = udp.run();
    const [peer] = clients("127.0.0.1", 1);
    try {
      // Few enough that the answers fit the peer's receive buffer until it reads them.
      for (let i = 0; i < 12; i++) {
        assert.ok(peer.sender.send(encoder.encode(`m${i}`), "127.0.0.1", udp.local.port));
      }
      const buffer = new Uint8Array(65536);
      for (let i = 0; i < 12; i++) {
        for (const [k, size] of sizes.entries()) {
          const [got, addr] = await peer.conn.receive(buffer);
          assert.equal(decoder.decode(got), `re m${i} ${k} `.padEnd(size, "."));
          assert.equal((addr as Deno.NetAddr).port, udp.local.port);
        }
      }
      assert.deepEqual(notNow, [], "every send went out synchronously");
    } finally {
      peer.conn.close();
      udp.close();
      await loop;
    }
  },
});

Deno.test("udp: IPv6 peers are written as RFC 5952 says (as Deno reports them)", () => {
  const bytes = (text: string) => {
    const out = new Uint8Array(16);
    text.split(":").forEach((g, i) => {
      const w = parseInt(g, 16);
      out[2 * i] = w >> 8;
      out[2 * i + 1] = w & 0xff;
    });
    return out;
  };
  const cases: [string, string][] = [
    ["0:0:0:0:0:0:0:1", "::1"],
    ["0:0:0:0:0:0:0:0", "::"],
    ["2001:db8:0:0:0:0:0:1", "2001:db8::1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
    ["fe80:0:0:0:1:0:0:0", "fe80::1:0:0:0"],
    ["2001:DB8:AAAA:BBBB:CCCC:DDDD:EEEE:1", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:1"],
    ["1:0:0:0:0:0:0:0", "1::"],
  ];
  for (const [full, text] of cases) assert.equal(ipv6Text(bytes(full)), text, full);
});
