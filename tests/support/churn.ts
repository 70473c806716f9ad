/**
 * @module Connection churn for tests and benches: TCP connections to a loopback port opened
 * and closed as fast as possible, half of them closed with RST (SO_LINGER 0), through
 * libc over FFI because Deno cannot set SO_LINGER. `connect` runs on a worker thread
 * (`nonblocking`), so a full listen queue stalls only the churn, not the caller's event
 * loop (the server may run in the same process). Linux/glibc, IPv4 loopback only.
 */

const AF_INET = 2;
const SOCK_STREAM = 1;
const SOL_SOCKET = 1;
const SO_LINGER = 13;

const libc = () =>
  Deno.dlopen("libc.so.6", {
    socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
    connect: { parameters: ["i32", "buffer", "u32"], result: "i32", nonblocking: true },
    setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
    close: { parameters: ["i32"], result: "i32" },
  });

export interface ChurnResult {
  cycles: number;
  /** Connects that failed (refused, or no room in the listen queue). */
  failures: number;
  elapsedMs: number;
  /** Slowest single connect, ms (a SYN retransmit shows as ≥ 1000). */
  maxConnectMs: number;
}

/**
 * `cycles` connect/close cycles to 127.0.0.1:`port`, every second one closed with RST.
 * Stops early once `maxMs` has passed (the result then has fewer cycles).
 */
export async function churn(port: number, cycles: number, maxMs = 60_000): Promise<ChurnResult> {
  const lib = libc();
  const address = new Uint8Array(16);
  const view = new DataView(address.buffer);
  view.setUint16(0, AF_INET, true);
  view.setUint16(2, port, false);
  address.set([127, 0, 0, 1], 4);
  const linger = new Uint8Array(new Int32Array([1, 0]).buffer); // on, 0 s: close sends RST
  const started = performance.now();
  let done = 0;
  let failures = 0;
  let maxConnectMs = 0;
  try {
    for (; done < cycles && performance.now() - started < maxMs; done++) {
      const fd = lib.symbols.socket(AF_INET, SOCK_STREAM, 0);
      if (fd < 0) throw new Error("socket() failed");
      const t0 = performance.now();
      const ok = await lib.symbols.connect(fd, address, address.length) === 0;
      maxConnectMs = Math.max(maxConnectMs, performance.now() - t0);
      if (!ok) failures++;
      if (ok && done % 2 === 1) {
        lib.symbols.setsockopt(fd, SOL_SOCKET, SO_LINGER, linger, linger.length);
      }
      lib.symbols.close(fd);
    }
  } finally {
    lib.close();
  }
  return {
    cycles: done,
    failures,
    elapsedMs: Math.round(performance.now() - started),
    maxConnectMs: Math.round(maxConnectMs),
  };
}
