/**
 * @module Synchronous writes on an accepted plain-TCP connection: one non-blocking libc
 * `sendto(2)` on its descriptor instead of `Deno.Conn.write`, an async op (an op dispatch, a
 * resource borrow, a promise settled a turn later). The write queue (write_queue.ts) tries
 * this first and hands whatever it did not take (a full socket buffer, an error) to
 * `conn.write`, which waits for room or reports the error. Deno keeps the descriptor of an
 * accepted connection under an internal symbol; where it does not (dialled and TLS
 * connections, another Deno, no FFI permission, not Linux) every write goes the async way.
 */
import { openLibc } from "./socket_options.ts";

const MSG_DONTWAIT = 0x40;
/** A peer that closed must give an error, not SIGPIPE. */
const MSG_NOSIGNAL = 0x4000;

/**
 * The descriptor of `conn` when bytes may be written on it directly: plain TCP (TLS must
 * encrypt them), Linux with libc reachable through FFI, and Deno exposing it.
 */
export function directDescriptor(conn: Deno.Conn, secure: boolean): number | undefined {
  if (secure || Deno.build.os !== "linux") return undefined;
  const key = Object.getOwnPropertySymbols(conn).find((s) => s.description === "Deno.internal.fd");
  const fd = key === undefined ? undefined : (conn as unknown as Record<symbol, unknown>)[key];
  if (typeof fd !== "number" || !Number.isInteger(fd) || fd < 0) return undefined;
  return openLibc() ? fd : undefined;
}

/** Writes what the socket takes of `bytes` now; returns how many bytes (0 on any error). */
export function sendDirect(fd: number, bytes: Uint8Array): number {
  // The size_t length as a BigInt: the FFI fast path takes 64-bit integers only as BigInt.
  const sent = Number(
    openLibc()!.sendto(fd, bytes, BigInt(bytes.length), MSG_DONTWAIT | MSG_NOSIGNAL, null, 0),
  );
  return sent > 0 ? sent : 0;
}
