import assert from "node:assert/strict";
import { UdpFdSender } from "./udp_fd_sender.ts";
import { udpDescriptor } from "./socket_options.ts";

Deno.test("udp fd sender: what one run sends leaves at its end, every datagram in order from the socket's port, a large one too", async () => {
  if (Deno.build.os !== "linux") return;
  const from = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const to = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const fromPort = (from.addr as Deno.NetAddr).port;
    const toPort = (to.addr as Deno.NetAddr).port;
    const fd = udpDescriptor(fromPort, "127.0.0.1");
    assert.ok(fd !== undefined, "found the socket's descriptor");
    const sender = new UdpFdSender(fd, { host: "127.0.0.1", port: fromPort }, {
      node: "n",
      worker: 0,
    });
    // Larger than a batch slot (2 KB) in the middle, and more than a batch (32) in all.
    const sizes = [10, 20, 3000, 30, ...Array.from({ length: 40 }, (_, i) => 40 + i)];
    const sent = sizes.map((n, i) => new Uint8Array(n).fill(i));
    for (const bytes of sent) assert.equal(sender.send(bytes, "127.0.0.1", toPort), true);
    const got: Uint8Array[] = [];
    const buffer = new Uint8Array(65536);
    while (got.length < sent.length) {
      const [view, addr] = await to.receive(buffer);
      assert.equal((addr as Deno.NetAddr).port, fromPort);
      got.push(view.slice());
    }
    assert.deepEqual(got, sent);
  } finally {
    from.close();
    to.close();
  }
});
