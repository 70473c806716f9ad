/**
 * @module The `tag` parameter of From and To (RFC 3261 §19.3), read from the raw header
 * value without a full name-addr parse: what transaction matching, dialogs and the proxy
 * read on every request.
 */

/** A non-ASCII character JavaScript's `\s` matches (rare in a header: tested by pattern). */
const WIDE_SPACE = /\s/;

/** What `\s` matches: SP, HT, LF, VT, FF, CR and the Unicode spaces. */
function isSpace(c: number): boolean {
  if (c < 128) return c === 32 || (c >= 9 && c <= 13);
  return WIDE_SPACE.test(String.fromCharCode(c));
}

/** Index of the first character from `i` on in `value` that is not a space. */
function skipSpaces(value: string, i: number): number {
  while (i < value.length && isSpace(value.charCodeAt(i))) i++;
  return i;
}

/**
 * The `tag` parameter of a raw From/To value, or "" (a `tag` inside `<…>` is a URI param).
 * The first `;` `tag` `=` value after the last `>`, as `/;\s*tag\s*=\s*([^;\s,]+)/i` finds
 * it, scanned by hand: it is read several times for every request a proxy forwards.
 */
export function tagParam(value: string): string {
  const n = value.length;
  for (
    let semi = value.indexOf(";", value.lastIndexOf(">") + 1);
    semi >= 0;
    semi = value.indexOf(";", semi + 1)
  ) {
    let i = skipSpaces(value, semi + 1);
    if (
      i + 3 > n || (value.charCodeAt(i) | 32) !== 116 || (value.charCodeAt(i + 1) | 32) !== 97 ||
      (value.charCodeAt(i + 2) | 32) !== 103
    ) continue;
    i = skipSpaces(value, i + 3);
    if (i >= n || value.charCodeAt(i) !== 61) continue;
    const from = skipSpaces(value, i + 1);
    let to = from;
    while (to < n) {
      const c = value.charCodeAt(to);
      if (c === 59 || c === 44 || isSpace(c)) break;
      to++;
    }
    if (to > from) return value.slice(from, to);
  }
  return "";
}

/** True when a raw From/To value carries a tag (for To: the request is inside a dialog). */
export function hasTag(value: string | undefined): boolean {
  return value !== undefined && tagParam(value) !== "";
}
