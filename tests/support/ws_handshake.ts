/**
 * @module A raw HTTP upgrade request on a plain socket, for handshake-policy tests that need
 * headers a WebSocket client will not let a caller set (Origin, Host, none at all).
 */

const decoder = new TextDecoder();

/**
 * Sends an upgrade request with `headers` (a `Host` given there replaces the default) and
 * returns the response's status line and headers.
 */
export async function handshake(port: number, headers: Record<string, string>): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const lines = [
      "GET / HTTP/1.1",
      ...("Host" in headers ? [] : [`Host: 127.0.0.1:${port}`]),
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Version: 13",
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      "",
      "",
    ];
    await conn.write(new TextEncoder().encode(lines.join("\r\n")));
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    return decoder.decode(buf.subarray(0, n ?? 0)).split("\r\n\r\n")[0];
  } finally {
    conn.close();
  }
}
