/**
 * @module Sending on another thread's UDP socket: a worker thread writes datagrams with libc
 * `sendto` on the descriptor of the socket the main thread bound, so replies leave from the
 * port the peer knows (RFC 3261 §18.2.2) without a hop back to the main thread. Receiving
 * stays with the main thread, which hands each datagram to the worker that owns its call.
 */
import { openLibc } from "./socket_options.ts";
import { udpFlowId } from "./flow_id.ts";
import type { Address, Flow, FlowOwner } from "./types.ts";

const AF_INET = 2;
const AF_INET6 = 10;

/** The 16 bytes of an IPv6 literal (with an embedded IPv4 tail), or undefined. */
function ipv6Bytes(text: string): Uint8Array | undefined {
  const host = text.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  let head = host;
  const tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(host);
  if (v4) {
    const bytes = ipv4Bytes(v4[1]);
    if (!bytes) return undefined;
    tail.push((bytes[0] << 8) | bytes[1], (bytes[2] << 8) | bytes[3]);
    head = host.slice(0, -v4[1].length).replace(/:$/, host.endsWith("::" + v4[1]) ? ":" : "");
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const words = (part: string) => part === "" ? [] : part.split(":").map((w) => parseInt(w, 16));
  const left = words(halves[0]);
  const right = halves.length === 2 ? words(halves[1]) : [];
  const missing = 8 - left.length - right.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return undefined;
  const all = [...left, ...new Array(missing).fill(0), ...right, ...tail];
  if (all.some((w) => !(w >= 0 && w <= 0xffff))) return undefined;
  const out = new Uint8Array(16);
  all.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

function ipv4Bytes(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!/^\d{1,3}$/.test(parts[i]) || Number(parts[i]) > 255) return undefined;
    out[i] = Number(parts[i]);
  }
  return out;
}

/** sockaddr_in / sockaddr_in6 for an IP literal, as a socket of `family` needs it. */
export function sockaddr(host: string, port: number, family: "v4" | "v6"): Uint8Array | undefined {
  const v4 = ipv4Bytes(host);
  if (family === "v4") {
    if (!v4) return undefined;
    const out = new Uint8Array(16);
    new DataView(out.buffer).setUint16(0, AF_INET, true);
    new DataView(out.buffer).setUint16(2, port);
    out.set(v4, 4);
    return out;
  }
  const v6 = v4
    ? Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, ...v4])
    : ipv6Bytes(host);
  if (!v6) return undefined;
  const out = new Uint8Array(28);
  new DataView(out.buffer).setUint16(0, AF_INET6, true);
  new DataView(out.buffer).setUint16(2, port);
  out.set(v6, 8);
  return out;
}

/** The UDP side of a worker: flows and sends on the main thread's socket. */
export class UdpFdSender {
  readonly local: Address;
  readonly receiveBuffer = undefined;
  #fd: number;
  #family: "v4" | "v6";
  /** Destination addresses by "host:port": building one costs more than the send. */
  #addresses = new Map<string, Uint8Array>();
  #flows = new Map<string, Flow>();
  /** The main thread's: UDP flows are the socket's, whichever worker sends on them. */
  #owner: FlowOwner;

  constructor(fd: number, local: Address, owner: FlowOwner) {
    this.#fd = fd;
    this.local = local;
    this.#owner = owner;
    this.#family = local.host.includes(":") ? "v6" : "v4";
  }

  flowTo(host: string, port: number): Flow {
    const key = `${host}:${port}`;
    let flow = this.#flows.get(key);
    if (!flow) {
      const remote = { host, port };
      flow = {
        id: udpFlowId(this.#owner, this.local, remote),
        owner: this.#owner,
        transport: "udp",
        local: this.local,
        remote,
        reliable: false,
        secure: false,
      };
      if (this.#flows.size > 100_000) this.#flows.clear();
      this.#flows.set(key, flow);
    }
    return flow;
  }

  /** Rejects for a host name (workers send to IP literals only) or a failed sendto. */
  send(bytes: Uint8Array, host: string, port: number): Promise<number> {
    const key = `${host}:${port}`;
    let to = this.#addresses.get(key);
    if (!to) {
      to = sockaddr(host, port, this.#family);
      if (!to) return Promise.reject(new Error(`UDP from a worker needs an IP literal: ${host}`));
      if (this.#addresses.size > 100_000) this.#addresses.clear();
      this.#addresses.set(key, to);
    }
    const sent = Number(openLibc()!.sendto(this.#fd, bytes, bytes.length, 0, to, to.length));
    return sent < 0
      ? Promise.reject(new Error(`sendto ${host}:${port} failed`))
      : Promise.resolve(sent);
  }

  close(): void {
    // The socket is the main thread's; it closes it.
  }
}
