/**
 * @module IP address ranges written as CIDRs (`10.0.0.0/8`, `2001:db8::/32`, or a single
 * address): parsing with a message that says what is wrong, and membership tests for the
 * addresses sockets report. Pure: no I/O, no DNS (a name is an error, never resolved).
 */

/** One range: the address as 16-bit groups (2 for IPv4, 8 for IPv6) and its prefix length. */
interface Range {
  groups: number[];
  bits: number;
}

/**
 * IPv4 dotted quad → two 16-bit groups, or undefined. A character loop, not split and
 * regexes: the abuse guard asks this once per new source address, also under a flood.
 */
function ipv4Groups(text: string): number[] | undefined {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || ++dots > 3) return undefined;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      octet = octet * 10 + c - 48;
      digits++;
      if (octet > 255) return undefined;
    } else return undefined;
  }
  if (digits === 0 || dots !== 3) return undefined;
  value = value * 256 + octet;
  return [Math.floor(value / 65536), value % 65536];
}

/** IPv6 text (with `::` and an embedded IPv4 tail allowed) → eight 16-bit groups. */
function ipv6Groups(text: string): number[] | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const side = (s: string): number[] | undefined => {
    if (s === "") return [];
    const out: number[] = [];
    const words = s.split(":");
    for (let i = 0; i < words.length; i++) {
      const w = words[i];
      if (i === words.length - 1 && w.includes(".")) {
        const v4 = ipv4Groups(w);
        if (!v4) return undefined;
        out.push(...v4);
      } else if (/^[0-9a-f]{1,4}$/i.test(w)) out.push(parseInt(w, 16));
      else return undefined;
    }
    return out;
  };
  const head = side(halves[0]);
  const tail = halves.length === 2 ? side(halves[1]) : [];
  if (!head || !tail) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  const fill = 8 - head.length - tail.length;
  if (fill < 1) return undefined;
  return [...head, ...new Array(fill).fill(0), ...tail];
}

/** An address as groups: IPv4 (2 groups) or IPv6 (8); IPv4-mapped IPv6 becomes IPv4. */
export function addressGroups(host: string): number[] | undefined {
  const h = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  if (!h.includes(":")) return ipv4Groups(h);
  const v6 = ipv6Groups(h.replace(/%.*$/, ""));
  if (v6 && v6.slice(0, 5).every((g) => g === 0) && v6[5] === 0xffff) return v6.slice(6);
  return v6;
}

/** Parses `address[/bits]`; throws an Error saying what is wrong. */
export function parseCidr(text: string): Range {
  const [address, bitsText, extra] = text.trim().split("/");
  if (extra !== undefined) throw new Error(`'${text}' is not a CIDR (one '/' at most)`);
  const groups = addressGroups(address);
  if (!groups) throw new Error(`'${text}' is not an IPv4 or IPv6 address range`);
  const max = groups.length * 16;
  if (bitsText === undefined) return { groups, bits: max };
  if (!/^\d{1,3}$/.test(bitsText) || Number(bitsText) > max) {
    throw new Error(`'${text}': prefix length must be 0-${max}`);
  }
  return { groups, bits: Number(bitsText) };
}

function contains(range: Range, groups: number[]): boolean {
  if (groups.length !== range.groups.length) return false;
  let left = range.bits;
  for (let i = 0; left > 0; i++, left -= 16) {
    const mask = left >= 16 ? 0xffff : (0xffff << (16 - left)) & 0xffff;
    if ((groups[i] & mask) !== (range.groups[i] & mask)) return false;
  }
  return true;
}

/** A list of ranges; `has` answers whether an address falls in any of them. */
export class CidrSet {
  readonly #ranges: Range[];
  readonly source: readonly string[];

  /** Throws (naming the bad entry) when one entry is not a CIDR. */
  constructor(cidrs: readonly string[]) {
    this.#ranges = cidrs.map(parseCidr);
    this.source = [...cidrs];
  }

  get size(): number {
    return this.#ranges.length;
  }

  has(host: string): boolean {
    if (this.#ranges.length === 0) return false;
    const groups = addressGroups(host);
    return groups !== undefined && this.#ranges.some((r) => contains(r, groups));
  }
}
