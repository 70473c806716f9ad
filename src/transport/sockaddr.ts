/**
 * @module Socket addresses for libc calls: `sockaddr_in` / `sockaddr_in6` bytes for an IP
 * literal (an IPv4 one as v4-mapped on an IPv6 socket). Names are never resolved here.
 */

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
    return v4 && socketAddress(16, AF_INET, port, v4, 4);
  }
  const v6 = v4
    ? Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, ...v4])
    : ipv6Bytes(host);
  return v6 && socketAddress(28, AF_INET6, port, v6, 8);
}

/** `size` bytes: the family (host order), the port (network order), the address at `at`. */
function socketAddress(
  size: number,
  family: number,
  port: number,
  address: Uint8Array,
  at: number,
): Uint8Array {
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint16(0, family, true);
  view.setUint16(2, port);
  out.set(address, at);
  return out;
}
