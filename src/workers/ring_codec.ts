/**
 * @module The binary form of the messages crossing the worker rings (ring.ts): plain data
 * (objects, arrays, strings, numbers, booleans, null, bytes) tagged byte by byte, object keys
 * the protocol uses as one byte each. It replaces JSON text, which cost a location change
 * about 20 µs between stringify, encode, decode and parse (measured on this box), where this
 * writes the bytes straight from the strings and reads them back without a text decoder for
 * ASCII. It follows JSON's rules for what it keeps: an object's `undefined` and function
 * properties are left out, `toJSON` is honoured; `Uint8Array` values cross as bytes (a copy,
 * read back as a view of a shared slab).
 */

import { copyToSlab } from "../sip/slab.ts";

const UNDEFINED = 0;
const NULL = 1;
const FALSE = 2;
const TRUE = 3;
const INT = 4;
const FLOAT = 5;
const ASCII = 6;
const UTF8 = 7;
const ARRAY = 8;
const OBJECT = 9;
const BYTES = 10;
/** A key not in `KEYS`: its text follows. */
const KEY_TEXT = 255;

/** Keys the protocol's messages use (protocol.ts, Binding, Flow), one byte each. */
const KEYS = [
  "t",
  "to",
  "bytes",
  "flow",
  "change",
  "op",
  "binding",
  "aor",
  "domain",
  "user",
  "contact",
  "key",
  "contactHost",
  "contactUser",
  "contactPort",
  "contactAddress",
  "contactParams",
  "callId",
  "cseq",
  "expiresAt",
  "registeredAt",
  "instance",
  "regId",
  "path",
  "userAgent",
  "outstandingPings",
  "id",
  "owner",
  "node",
  "worker",
  "transport",
  "local",
  "remote",
  "host",
  "port",
  "reliable",
  "secure",
  "ok",
  "realm",
  "cause",
  "open",
  "deltas",
  "name",
  "labels",
  "by",
  "snapshots",
  "view",
  "event",
  "type",
  "method",
  "status",
  "ref",
] as const;
const KEY_IDS = new Map<string, number>(KEYS.map((k, i) => [k, i]));

/** Strings up to this length are looked up among those read before (`Decoder.#interned`). */
const INTERNED_LENGTH = 128;
const INTERNED_SLOTS = 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Writes values into a growing scratch buffer; `bytes()` is valid until the next `reset`. */
export class Encoder {
  #data = new Uint8Array(4096);
  #view = new DataView(this.#data.buffer);
  #at = 0;

  /** `tag` then `value`; returns the encoded bytes (a view of the scratch buffer). */
  encode(tag: number, value: unknown): Uint8Array {
    this.#at = 0;
    this.#room(1);
    this.#data[this.#at++] = tag;
    this.#value(value);
    return this.#data.subarray(0, this.#at);
  }

  #room(n: number): void {
    if (this.#at + n <= this.#data.length) return;
    const grown = new Uint8Array(Math.max(this.#data.length * 2, this.#at + n));
    grown.set(this.#data.subarray(0, this.#at));
    this.#data = grown;
    this.#view = new DataView(grown.buffer);
  }

  #value(v: unknown): void {
    this.#room(9);
    const d = this.#data;
    switch (typeof v) {
      case "string":
        return this.#string(v);
      case "number":
        if ((v | 0) === v && !Object.is(v, -0)) {
          d[this.#at] = INT;
          this.#view.setInt32(this.#at + 1, v);
          this.#at += 5;
        } else {
          d[this.#at] = FLOAT;
          this.#view.setFloat64(this.#at + 1, v);
          this.#at += 9;
        }
        return;
      case "boolean":
        d[this.#at++] = v ? TRUE : FALSE;
        return;
      case "object":
        if (v === null) d[this.#at++] = NULL;
        else if (v instanceof Uint8Array) this.#bytes(v);
        else if (Array.isArray(v)) this.#array(v);
        else if (typeof (v as { toJSON?: unknown }).toJSON === "function") {
          this.#value((v as { toJSON(): unknown }).toJSON());
        } else this.#object(v as Record<string, unknown>);
        return;
      default:
        d[this.#at++] = UNDEFINED; // undefined, functions, symbols (as JSON's null in arrays)
    }
  }

  #string(s: string): void {
    const n = s.length;
    this.#room(5 + n);
    const d = this.#data;
    const start = this.#at;
    let at = start + 5;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return this.#utf8(s, start);
      d[at++] = c;
    }
    d[start] = ASCII;
    this.#view.setUint32(start + 1, n);
    this.#at = at;
  }

  #utf8(s: string, start: number): void {
    this.#at = start;
    this.#room(5 + s.length * 3);
    const { written } = encoder.encodeInto(s, this.#data.subarray(start + 5));
    this.#data[start] = UTF8;
    this.#view.setUint32(start + 1, written);
    this.#at = start + 5 + written;
  }

  #bytes(b: Uint8Array): void {
    this.#room(5 + b.length);
    this.#data[this.#at] = BYTES;
    this.#view.setUint32(this.#at + 1, b.length);
    this.#data.set(b, this.#at + 5);
    this.#at += 5 + b.length;
  }

  #array(a: unknown[]): void {
    this.#data[this.#at] = ARRAY;
    this.#view.setUint32(this.#at + 1, a.length);
    this.#at += 5;
    for (let i = 0; i < a.length; i++) this.#value(a[i]);
  }

  #object(o: Record<string, unknown>): void {
    const start = this.#at;
    this.#data[start] = OBJECT;
    this.#at += 5;
    let count = 0;
    for (const key in o) {
      if (!Object.hasOwn(o, key)) continue;
      const v = o[key];
      if (v === undefined || typeof v === "function" || typeof v === "symbol") continue;
      count++;
      const id = KEY_IDS.get(key);
      this.#room(1);
      if (id !== undefined) this.#data[this.#at++] = id;
      else {
        this.#data[this.#at++] = KEY_TEXT;
        this.#string(key);
      }
      this.#value(v);
    }
    this.#view.setUint32(start + 1, count);
  }
}

/** Reads one value written by `Encoder` from `data` at `at` (after the caller's tag). */
export class Decoder {
  #data: Uint8Array;
  #view: DataView;
  #at = 0;
  /** Short ASCII strings read before, by a hash of their bytes (`#interned`). */
  #strings: (string | undefined)[] = new Array(INTERNED_SLOTS);

  constructor(data: Uint8Array, view: DataView) {
    this.#data = data;
    this.#view = view;
  }

  decode(at: number): unknown {
    this.#at = at;
    return this.#value();
  }

  #value(): unknown {
    const d = this.#data;
    const tag = d[this.#at++];
    switch (tag) {
      case NULL:
        return null;
      case FALSE:
        return false;
      case TRUE:
        return true;
      case INT:
        this.#at += 4;
        return this.#view.getInt32(this.#at - 4);
      case FLOAT:
        this.#at += 8;
        return this.#view.getFloat64(this.#at - 8);
      case ASCII:
      case UTF8:
        return this.#string(tag);
      case BYTES: {
        const n = this.#view.getUint32(this.#at);
        const start = this.#at + 4;
        this.#at = start + n;
        // A view of a slab (sip/slab.ts), not an ArrayBuffer per message: the transport
        // copies a body out of a slab view when it parses, as for the bytes it reads.
        return copyToSlab(d.subarray(start, start + n));
      }
      case ARRAY: {
        const n = this.#view.getUint32(this.#at);
        this.#at += 4;
        const a = new Array(n);
        for (let i = 0; i < n; i++) {
          const v = this.#value();
          a[i] = v === undefined ? null : v;
        }
        return a;
      }
      case OBJECT: {
        const n = this.#view.getUint32(this.#at);
        this.#at += 4;
        const o: Record<string, unknown> = {};
        for (let i = 0; i < n; i++) {
          const id = d[this.#at++];
          const key = id === KEY_TEXT ? this.#string(d[this.#at++]) : KEYS[id];
          o[key] = this.#value();
        }
        return o;
      }
      default:
        return undefined;
    }
  }

  #string(tag: number): string {
    const n = this.#view.getUint32(this.#at);
    const start = this.#at + 4;
    this.#at = start + n;
    if (tag === ASCII && n <= INTERNED_LENGTH) return this.#interned(start, n);
    const bytes = this.#data.subarray(start, start + n);
    if (tag === UTF8 || n > 4096) return decoder.decode(bytes);
    return String.fromCharCode.apply(null, bytes as unknown as number[]);
  }

  /** `n` bytes of ASCII at `at` as a string (a datagram's source host: ring.ts). */
  ascii(at: number, n: number): string {
    return n <= INTERNED_LENGTH
      ? this.#interned(at, n)
      : String.fromCharCode.apply(null, this.#data.subarray(at, at + n) as unknown as number[]);
  }

  /**
   * A short ASCII string, the one read last time when the bytes are the same: a location
   * change repeats the AOR, key, contact, flow and hosts of the binding it refreshes, so most
   * are found here and none is built (nor hashed again when it keys a map).
   */
  #interned(start: number, n: number): string {
    const d = this.#data;
    const end = start + n;
    // Hashed four bytes a load (the view's reads are the ring's bytes): the byte loop this
    // replaced was a quarter of the cost of reading a location change (bench/location_replica.ts).
    const view = this.#view;
    let hash = n;
    let i = start;
    for (const words = end - 3; i < words; i += 4) {
      hash = Math.imul(hash ^ view.getInt32(i), 0x01000193);
    }
    for (; i < end; i++) hash = Math.imul(hash ^ d[i], 0x01000193);
    const slot = (hash ^ (hash >>> 10) ^ (hash >>> 20)) & (INTERNED_SLOTS - 1);
    const known = this.#strings[slot];
    if (known !== undefined && known.length === n) {
      let k = 0;
      while (k < n && known.charCodeAt(k) === d[start + k]) k++;
      if (k === n) return known;
    }
    const s = String.fromCharCode.apply(null, d.subarray(start, end) as unknown as number[]);
    this.#strings[slot] = s;
    return s;
  }
}
