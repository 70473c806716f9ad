import assert from "node:assert/strict";
import { configureLog, type LogRecord, stderrSink } from "../log.ts";
import { setUdpReceiveBuffer } from "./socket_options.ts";

/** net.core.rmem_max, when this system has one to read. */
function rmemMax(): number | undefined {
  try {
    return Number(Deno.readTextFileSync("/proc/sys/net/core/rmem_max").trim());
  } catch {
    return undefined;
  }
}

Deno.test("udp receive buffer: a size past net.core.rmem_max is capped, and the log says so", () => {
  const max = rmemMax();
  if (Deno.build.os !== "linux" || max === undefined) return; // Linux only, like the option
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const records: LogRecord[] = [];
  configureLog({ verbosity: 2, sinks: [(r) => records.push(r)] });
  try {
    const port = (socket.addr as Deno.NetAddr).port;
    const small = setUdpReceiveBuffer(port, 65536, "127.0.0.1");
    assert.equal(small, 2 * 65536, "Linux reports twice the size it was asked");
    assert.equal(records.filter((r) => r.level === "warn").length, 0, "not capped: no warning");
    const asked = 2 * max;
    const got = setUdpReceiveBuffer(port, asked, "127.0.0.1");
    assert.ok(got !== undefined && got < 2 * asked, `capped: got ${got}`);
    const warned = records.filter((r) => r.level === "warn" && /rmem_max caps it/.test(r.message));
    assert.equal(warned.length, 1);
    assert.match(
      warned[0].message,
      new RegExp(`asked ${asked} bytes, the kernel allows ${got! / 2}`),
    );
  } finally {
    configureLog({ verbosity: 0, sinks: [stderrSink] });
    socket.close();
  }
});
