import assert from "node:assert/strict";
import { UdpSendBatch } from "./udp_send_batch.ts";
import { udpDescriptor } from "./socket_options.ts";
import { sockaddr } from "./sockaddr.ts";

Deno.test({
  name:
    "udp send batch: queued datagrams leave in order from the socket's port; a full batch says so",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const from = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const to = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    try {
      const fromPort = (from.addr as Deno.NetAddr).port;
      const toPort = (to.addr as Deno.NetAddr).port;
      const batch = UdpSendBatch.forDescriptor(udpDescriptor(fromPort, "127.0.0.1")!)!;
      const address = sockaddr("127.0.0.1", toPort, "v4")!;
      const unsent: string[] = [];
      let queued = 0;
      while (!batch.full) {
        const text = `datagram ${queued++}`.padEnd(queued === 1 ? 1500 : 0, "x");
        assert.ok(batch.queue(new TextEncoder().encode(text), address, "127.0.0.1", toPort));
      }
      assert.equal(batch.queue(new Uint8Array(1), address, "127.0.0.1", toPort), false, "full");
      batch.flush((bytes) => unsent.push(new TextDecoder().decode(bytes)));
      assert.deepEqual(unsent, []);
      for (let i = 0; i < queued; i++) {
        const [got, addr] = await to.receive();
        const text = new TextDecoder().decode(got);
        assert.equal(text.replace(/x+$/, ""), `datagram ${i}`);
        if (i === 0) assert.equal(text.length, 1500);
        assert.equal((addr as Deno.NetAddr).port, fromPort);
      }
      assert.equal(batch.queue(new Uint8Array(4096), address, "127.0.0.1", toPort), false);
    } finally {
      from.close();
      to.close();
    }
  },
});

Deno.test({
  name: "udp send batch: what the socket does not take goes to the caller, whole, with its peer",
  ignore: Deno.build.os !== "linux",
  fn() {
    // -1 is no descriptor: sendmmsg fails and every queued datagram comes back.
    const batch = UdpSendBatch.forDescriptor(-1)!;
    const address = sockaddr("127.0.0.1", 5060, "v4")!;
    batch.queue(new TextEncoder().encode("one"), address, "127.0.0.1", 5060);
    batch.queue(new TextEncoder().encode("two!"), address, "127.0.0.2", 5061);
    const unsent: string[] = [];
    batch.flush((bytes, host, port) =>
      unsent.push(`${new TextDecoder().decode(bytes)} ${host}:${port}`)
    );
    assert.deepEqual(unsent, ["one 127.0.0.1:5060", "two! 127.0.0.2:5061"]);
    batch.flush(() => assert.fail("flushed once"));
  },
});
