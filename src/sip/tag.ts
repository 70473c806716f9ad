/**
 * @module The `tag` parameter of From and To (RFC 3261 §19.3), read from the raw header
 * value without a full name-addr parse: what transaction matching, dialogs and the proxy
 * read on every request.
 */

/** The `tag` parameter of a raw From/To value, or "" (a `tag` inside `<…>` is a URI param). */
export function tagParam(value: string): string {
  const gt = value.lastIndexOf(">");
  const params = gt >= 0 ? value.slice(gt + 1) : value;
  const m = /;\s*tag\s*=\s*([^;\s,]+)/i.exec(params);
  return m ? m[1] : "";
}

/** True when a raw From/To value carries a tag (for To: the request is inside a dialog). */
export function hasTag(value: string | undefined): boolean {
  return value !== undefined && tagParam(value) !== "";
}
