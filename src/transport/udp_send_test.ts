import assert from "node:assert/strict";
import { UdpSyscallSender } from "./udp_send.ts";

Deno.test("udp syscall sender: a datagram (a view into a larger buffer) leaves from the socket's port", async () => {
  const from = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const to = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const fromPort = (from.addr as Deno.NetAddr).port;
    const sender = UdpSyscallSender.forSocket("127.0.0.1", fromPort);
    if (Deno.build.os !== "linux") return assert.equal(sender, undefined);
    assert.ok(sender, "found the socket's descriptor");
    const bytes = new TextEncoder().encode("xxOPTIONS sip:a SIP/2.0\r\n\r\nyy");
    const toPort = (to.addr as Deno.NetAddr).port;
    assert.equal(sender.send(bytes.subarray(2, bytes.length - 2), "127.0.0.1", toPort), true);
    const [got, addr] = await to.receive();
    assert.equal(new TextDecoder().decode(got), "OPTIONS sip:a SIP/2.0\r\n\r\n");
    assert.equal((addr as Deno.NetAddr).port, fromPort);
    // Not an IP literal: the caller falls back to Deno's send.
    assert.equal(sender.send(bytes, "localhost", toPort), false);
  } finally {
    from.close();
    to.close();
  }
});

Deno.test("udp syscall sender: two sockets on one port, different addresses: each sends from its own", async () => {
  if (Deno.build.os !== "linux") return;
  const a = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.2", port: 0 });
  const port = (a.addr as Deno.NetAddr).port;
  const b = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.3", port });
  const to = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const toPort = (to.addr as Deno.NetAddr).port;
    for (const host of ["127.0.0.2", "127.0.0.3"]) {
      const sender = UdpSyscallSender.forSocket(host, port)!;
      assert.equal(sender.send(new Uint8Array([1]), "127.0.0.1", toPort), true);
      const [, addr] = await to.receive();
      assert.equal((addr as Deno.NetAddr).hostname, host);
    }
  } finally {
    a.close();
    b.close();
    to.close();
  }
});
