/**
 * @module Shared helpers for the src/transport unit tests: a connected pair of loopback TCP
 * connections. Test-only; imported by the *_test.ts files beside it, never by production code.
 */

/** An accepted connection (what a listener hands over) and the client's end. */
export async function pair(): Promise<{ accepted: Deno.Conn; dialled: Deno.Conn; close(): void }> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const dialled = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const accepted = await listener.accept();
  return {
    accepted,
    dialled,
    close() {
      for (const c of [accepted, dialled, listener]) {
        try {
          c.close();
        } catch { /* closed already */ }
      }
    },
  };
}
