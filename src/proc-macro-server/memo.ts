// The memo of the proc-macro server: a repeated, unchanged request line answered with the response
// it got, by the request loop before the session sees it (what an editor sends all day). Expansion is deterministic, so for an expansion the session marked reusable this is the
// response the backend would give again; one that depended on something outside its request (the
// workspace's grants file: `BackendExpansion.dependency`) is reused only while that is unchanged.

import type { SpanMode } from "../server/protocol.js";
import type { MemoDependency } from "../server/serve.js";

/** A memoised response, and what it depended on. */
interface Memoised {
  response: string;
  dependency: MemoDependency | null;
}

/** The default bound of the memo: request lines and responses, in characters. */
export const MEMO_BYTES = 64 * 1024 * 1024;

/**
 * Response lines by request line, per span mode (the mode is part of what a line means), least
 * recently used out past a size: the lines' lengths.
 */
export class ResponseMemo {
  private readonly entries = new Map<SpanMode, Map<string, Memoised>>();
  private size = 0;

  /**
   * `state`: the state now at a dependency's `where`; without it, answers with a dependency are
   * not kept.
   */
  constructor(
    private readonly maxSize: number = MEMO_BYTES,
    private readonly state?: (where: string) => string,
  ) {}

  /** The response `line` got in `mode`, while what it depended on is unchanged. */
  get(mode: SpanMode, line: string): string | undefined {
    // One map per mode: the line itself is the key, no concatenated copy to hash.
    const map = this.entries.get(mode);
    const known = map?.get(line);
    if (known === undefined) return undefined;
    if (known.dependency !== null && this.state?.(known.dependency.where) !== known.dependency.state) return undefined;
    map!.delete(line);
    map!.set(line, known);
    return known.response;
  }

  /** Keeps the answer to `line` in `mode` when the session said it may be reused. */
  keep(mode: SpanMode, line: string, answer: { response: string; reusable: boolean; dependency: MemoDependency | null }): void {
    if (!answer.reusable || (answer.dependency !== null && this.state === undefined)) return;
    const cost = line.length + answer.response.length;
    if (cost > this.maxSize) return;
    let map = this.entries.get(mode);
    if (map === undefined) this.entries.set(mode, (map = new Map()));
    const old = map.get(line);
    if (old !== undefined) this.size -= line.length + old.response.length;
    map.delete(line);
    map.set(line, { response: answer.response, dependency: answer.dependency });
    this.size += cost;
    // Oldest first in each mode's map; the modes take turns giving up their oldest.
    while (this.size > this.maxSize) {
      for (const m of this.entries.values()) {
        const first = m.entries().next();
        if (first.done) continue;
        const [k, v] = first.value;
        m.delete(k);
        this.size -= k.length + v.response.length;
        if (this.size <= this.maxSize) break;
      }
    }
  }
}
