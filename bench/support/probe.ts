/**
 * @module The call bench's responsiveness probe: OPTIONS round trips to the server under
 * load, from a socket of its own. Not part of the product.
 */

export interface ProbeResult {
  sent: number;
  /** Probes never answered (dropped, or answered after the probe stopped). */
  lost: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/**
 * OPTIONS to the server itself (no user part: both servers answer it) every `everyMs`
 * from its own UDP socket, no retransmission: the round trips show how long a request
 * waits in the server while the call load runs (event-loop or worker stalls).
 */
export function startProbe(port: number, everyMs = 20): { stop(): Promise<ProbeResult> } {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const local = (socket.addr as Deno.NetAddr).port;
  const target = { transport: "udp" as const, hostname: "127.0.0.1", port };
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const pending = new Map<string, number>();
  const rtts: number[] = [];
  const run = crypto.randomUUID().slice(0, 8);
  let sent = 0;
  const reader = (async () => {
    try {
      for (;;) {
        const [bytes] = await socket.receive();
        const id = /\r\nCall-ID:\s*([^\r\n]+)/i.exec(decoder.decode(bytes))?.[1]?.trim();
        const at = id === undefined ? undefined : pending.get(id);
        if (at === undefined) continue;
        pending.delete(id!);
        rtts.push(performance.now() - at);
      }
    } catch { /* closed */ }
  })();
  const timer = setInterval(() => {
    const id = `probe-${run}-${sent}`;
    const text = `OPTIONS sip:127.0.0.1:${port} SIP/2.0\r\n` +
      `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK${run}p${sent};rport\r\n` +
      `Max-Forwards: 70\r\nFrom: <sip:probe@caller.test>;tag=${run}\r\n` +
      `To: <sip:127.0.0.1:${port}>\r\nCall-ID: ${id}\r\nCSeq: ${sent + 1} OPTIONS\r\n` +
      `Content-Length: 0\r\n\r\n`;
    sent++;
    pending.set(id, performance.now());
    socket.send(encoder.encode(text), target).catch(() => {});
  }, everyMs);
  return {
    async stop() {
      clearInterval(timer);
      await new Promise((r) => setTimeout(r, 500)); // the last probes' answers
      socket.close();
      await reader;
      const sorted = rtts.sort((a, b) => a - b);
      const at = (q: number) =>
        sorted.length
          ? Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] * 10) /
            10
          : 0;
      return { sent, lost: pending.size, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: at(1) };
    },
  };
}
