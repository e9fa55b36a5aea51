/**
 * Which workspace ids exist, as far as this gateway knows: every id listed
 * once at start-up, then every id a secret change was announced for or a
 * load found. It lets the secret cache tell a lookup for a real workspace
 * (always read) from one for an id nobody configured — a flood of distinct
 * made-up ids, which per-id miss caching cannot absorb — whose reads are
 * bounded. Until the listing is complete (or past `maxIds`), every id is
 * treated as possibly existing, which is how the cache behaved without it.
 * An id created on another gateway whose announcement was lost is missing
 * here until it is read; it is still read whenever the bound allows.
 */
export class KnownWorkspaces {
  private readonly ids = new Set<string>();
  private listed = false;
  private overflowed = false;
  private readonly maxIds: number;

  constructor(maxIds: number) {
    this.maxIds = maxIds;
  }

  /** True when the id may exist: it is known, or the listing is not (or cannot be) complete. */
  mayExist(workspaceId: string): boolean {
    return !this.listed || this.overflowed || this.ids.has(workspaceId);
  }

  /** Whether lookups of unknown ids are bounded now. */
  get complete(): boolean {
    return this.listed && !this.overflowed;
  }

  get size(): number {
    return this.ids.size;
  }

  add(workspaceId: string): void {
    if (this.overflowed || this.ids.has(workspaceId)) return;
    if (this.ids.size >= this.maxIds) {
      this.overflowed = true;
      this.ids.clear();
      return;
    }
    this.ids.add(workspaceId);
  }

  /** Every id that existed when the listing started has been added. */
  markListed(): void {
    this.listed = true;
  }
}
