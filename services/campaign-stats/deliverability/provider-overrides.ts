/**
 * A workspace's mailbox-provider overrides (SetMailboxProviderOverrides): stored in
 * `stats_provider_overrides` (`_id` = workspace), read on the ingest path through a cache that holds each
 * workspace's list for `ttlMs` (30 s) — so a change reaches every instance within that, and the hot path
 * reads the database at most once per workspace and TTL, not per event.
 */
import type { Collection, Db } from "mongodb";
import { InvalidArgumentError } from "../../shared/errors.ts";
import { parseOverrides, type MailboxProvider, type OverrideIndex } from "./mailbox-provider.ts";

/** How long an instance uses a workspace's list before reading it again. */
export const overridesTtlMs = 30_000;

export interface ProviderOverride {
  domain: string;
  provider: MailboxProvider;
}

type Stored = { _id: string; workspaceId: string; overrides: ProviderOverride[]; updatedAt: number };

export class ProviderOverrides {
  private readonly collection: Collection<Stored>;
  private readonly cache = new Map<string, { index: Promise<OverrideIndex>; until: number }>();
  private readonly now: () => number;

  constructor(db: Db, now: () => number = Date.now) {
    this.collection = db.collection<Stored>("stats_provider_overrides");
    this.now = now;
  }

  /** Replaces a workspace's list; resolves with it as stored. Throws InvalidArgumentError naming the bad entry. */
  async set(workspaceId: string, entries: readonly { domain: string; provider: string }[]): Promise<ProviderOverride[]> {
    let index: OverrideIndex;
    try {
      index = parseOverrides(entries);
    } catch (error) {
      throw new InvalidArgumentError("overrides", (error as Error).message);
    }
    const overrides = [...index].map(([domain, provider]) => ({ domain, provider }));
    await this.collection.replaceOne({ _id: workspaceId }, { workspaceId, overrides, updatedAt: this.now() }, { upsert: true });
    this.cache.set(workspaceId, { index: Promise.resolve(index), until: this.now() + overridesTtlMs });
    return overrides;
  }

  /** A workspace's stored list (empty when none). */
  async get(workspaceId: string): Promise<ProviderOverride[]> {
    return (await this.collection.findOne({ _id: workspaceId }))?.overrides ?? [];
  }

  /** The lookup index of a workspace's list, from the cache while it is fresh. */
  async indexOf(workspaceId: string): Promise<OverrideIndex> {
    const cached = this.cache.get(workspaceId);
    if (cached && cached.until > this.now()) return await cached.index;
    const index = this.get(workspaceId).then((overrides) => new Map(overrides.map(({ domain, provider }) => [domain, provider] as const)));
    this.cache.set(workspaceId, { index, until: this.now() + overridesTtlMs });
    // A failed read is not kept: the next event asks the database again.
    index.catch(() => this.cache.delete(workspaceId));
    if (this.cache.size > 10_000) this.cache.delete(this.cache.keys().next().value!);
    return await index;
  }
}
