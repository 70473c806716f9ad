/**
 * @module Two 32-bit hashes of a transaction key (FNV-1a and a rotate-multiply one) over its
 * UTF-16 code units, fed piece by piece: the layer hashes a request's key from the parts it
 * is made of (branch, sent-by, method) without building and walking the joined string, and
 * gets the same pair as hashing that string. Module state, so no object per hash.
 */
let low = 0;
let high = 0;

/** Starts a new pair. */
export function hashStart(): void {
  low = 0x811c9dc5;
  high = 0x2545f491;
}

/** Feeds one code unit. */
export function hashUnit(unit: number): void {
  low = Math.imul(low ^ unit, 0x01000193);
  high = Math.imul(((high << 5) | (high >>> 27)) ^ unit, 0x9e3779b1);
}

/** Feeds every code unit of `text`. */
export function hashText(text: string): void {
  let l = low;
  let h = high;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    l = Math.imul(l ^ unit, 0x01000193);
    h = Math.imul(((h << 5) | (h >>> 27)) ^ unit, 0x9e3779b1);
  }
  low = l;
  high = h;
}

/** Feeds the decimal digits of `n`, as `String(n)` writes it; false unless 0 ≤ n < 2^31 integer. */
export function hashDigits(n: number): boolean {
  if (!(n >= 0 && n <= 0x7fffffff && n === Math.floor(n))) return false;
  // Integer steps only: a float `%` is a C call.
  let scale = 1;
  while (scale <= n / 10) scale *= 10;
  let rest = n;
  for (; scale >= 1; scale = (scale / 10) | 0) {
    const digit = (rest / scale) | 0;
    rest -= digit * scale;
    hashUnit(48 + digit);
  }
  return true;
}

/** The pair fed so far: bucket hash and check hash. */
export function hashLow(): number {
  return low;
}

export function hashHigh(): number {
  return high;
}
