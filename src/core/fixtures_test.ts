/**
 * @module Shared fakes for the src/core unit tests: loopback flows as a transport would
 * report them. Test-only; imported by the *_test.ts files beside it, opens no socket.
 */
import type { Flow, TransportName } from "../transport/types.ts";

/**
 * A loopback flow: UDP arrives on 5060 from port 40000 (unreliable); the stream
 * transports on 8080 from port 50000 (reliable; tls and wss secure).
 */
export function testFlow(transport: TransportName, id = `${transport}:1`): Flow {
  const udp = transport === "udp";
  return {
    id,
    transport,
    local: { host: "127.0.0.1", port: udp ? 5060 : 8080 },
    remote: { host: "127.0.0.1", port: udp ? 40000 : 50000 },
    reliable: !udp,
    secure: transport === "tls" || transport === "wss",
  };
}
