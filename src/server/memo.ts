// The memo of a proc-macro server: a repeated, unchanged request line answered with the response
// it got. Expansion is deterministic, so for an expansion that depended on nothing outside its
// request this is the response the backend would give again. Used by the in-process session
// (serve.ts) and by the Node server's main thread (its session runs in a worker).
//
// Browser-safe: no Node APIs here.

import type { SpanMode } from "./protocol.js";

/**
 * Request lines to responses, per span mode (the mode is part of what a line means), least
 * recently used out past a size: the key's length plus the value's `cost`.
 */
export class LineMemo<V> {
  private readonly entries = new Map<string, Map<string, V>>();
  private size = 0;

  constructor(
    private readonly maxSize: number,
    private readonly cost: (value: V) => number,
  ) {}

  get(mode: SpanMode, line: string): V | undefined {
    // One map per mode: the line itself is the key, no concatenated copy to hash.
    const map = this.entries.get(mode);
    const v = map?.get(line);
    if (v !== undefined) {
      map!.delete(line);
      map!.set(line, v);
    }
    return v;
  }

  set(mode: SpanMode, line: string, value: V): void {
    const cost = line.length + this.cost(value);
    if (cost > this.maxSize) return;
    let map = this.entries.get(mode);
    if (map === undefined) this.entries.set(mode, (map = new Map()));
    const old = map.get(line);
    if (old !== undefined) this.size -= line.length + this.cost(old);
    map.delete(line);
    map.set(line, value);
    this.size += cost;
    // Oldest first in each mode's map; the modes take turns giving up their oldest.
    while (this.size > this.maxSize) {
      for (const m of this.entries.values()) {
        const first = m.entries().next();
        if (first.done) continue;
        const [k, v] = first.value;
        m.delete(k);
        this.size -= k.length + this.cost(v);
        if (this.size <= this.maxSize) break;
      }
    }
  }
}
