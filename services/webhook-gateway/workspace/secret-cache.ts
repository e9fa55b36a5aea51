/**
 * The gateway's view of each workspace's signing keys, cached so a webhook
 * costs no database work beyond a cache miss. Entries expire after a short
 * time even if an invalidation message is lost; unknown workspaces are cached
 * as misses for a shorter time; concurrent misses share one load. An
 * invalidation wins over every load that started before it: with several
 * gateway instances, a load running on instance B while A rotates a secret
 * would otherwise cache the old keys for a whole TTL.
 */
import { SigningKey } from "../webhook/signature.ts";
import type { WorkspaceRecord } from "./workspace-repository.ts";

export interface ActiveKey {
  key: SigningKey;
  /** Epoch ms after which a previous secret stops verifying; undefined for the current one. */
  expiresAtMs?: number;
}

export interface WorkspaceKeys {
  /** False when the workspace was never configured. */
  exists: boolean;
  keys: ActiveKey[];
}

export interface SecretCacheOptions {
  load(workspaceId: string): Promise<WorkspaceRecord | undefined>;
  open(workspaceId: string, sealed: string): string;
  ttlMs: number;
  missTtlMs: number;
  maxEntries: number;
  now?: () => number;
}

export class SecretCache {
  /** `checkedAt`: when the keys were loaded, or last asked for again (refreshIfOlder). */
  private readonly entries = new Map<string, { value: WorkspaceKeys; expiresAt: number; checkedAt: number }>();
  /** The load in flight per workspace; an invalidation removes it, so it neither caches nor serves later callers. */
  private readonly loading = new Map<string, Promise<WorkspaceKeys>>();
  private readonly options: SecretCacheOptions;
  private readonly now: () => number;

  constructor(options: SecretCacheOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /** The workspace's keys still valid now; loads on a miss (throws when the database is unreachable). */
  async get(workspaceId: string): Promise<WorkspaceKeys> {
    const now = this.now();
    const cached = this.entries.get(workspaceId);
    return this.validAt(cached && cached.expiresAt > now ? cached.value : await this.load(workspaceId), now);
  }

  /**
   * The workspace's keys read again, if they were not loaded or asked for within `olderThanMs` (else
   * undefined). For a signature the cached keys reject: another gateway instance may have rotated the
   * secret a moment ago, and its announcement not have arrived yet (or been lost). The bound keeps a
   * stream of forged signatures to one database read per workspace per `olderThanMs`, and the cached
   * keys stay until the new ones are in (so a database outage rejects nothing more).
   */
  async refreshIfOlder(workspaceId: string, olderThanMs: number): Promise<WorkspaceKeys | undefined> {
    const cached = this.entries.get(workspaceId);
    const now = this.now();
    if (cached && now - cached.checkedAt <= olderThanMs) return undefined;
    if (cached) cached.checkedAt = now;
    return this.validAt(await this.load(workspaceId), now);
  }

  /** The keys still valid at `now`: a previous secret stops verifying at its expiry, cached or not. */
  private validAt(value: WorkspaceKeys, now: number): WorkspaceKeys {
    return { exists: value.exists, keys: value.keys.filter((key) => key.expiresAtMs === undefined || key.expiresAtMs > now) };
  }

  /** Forgets a workspace (its secrets changed). */
  invalidate(workspaceId: string): void {
    this.entries.delete(workspaceId);
    this.loading.delete(workspaceId); // it may have read the old secrets
  }

  private load(workspaceId: string): Promise<WorkspaceKeys> {
    const inFlight = this.loading.get(workspaceId);
    if (inFlight) return inFlight;
    const loaded: Promise<WorkspaceKeys> = this.options
      .load(workspaceId)
      .then((record) => {
        const value = this.toKeys(workspaceId, record);
        if (this.loading.get(workspaceId) !== loaded) return value; // invalidated meanwhile: answer its callers, keep nothing
        const ttl = value.keys.length > 0 ? this.options.ttlMs : this.options.missTtlMs;
        if (this.entries.size >= this.options.maxEntries) this.entries.delete(this.entries.keys().next().value!);
        this.entries.set(workspaceId, { value, expiresAt: this.now() + ttl, checkedAt: this.now() });
        return value;
      })
      .finally(() => {
        if (this.loading.get(workspaceId) === loaded) this.loading.delete(workspaceId);
      });
    this.loading.set(workspaceId, loaded);
    return loaded;
  }

  private toKeys(workspaceId: string, record: WorkspaceRecord | undefined): WorkspaceKeys {
    if (!record) return { exists: false, keys: [] };
    return {
      exists: true,
      keys: record.secrets.map((secret) => ({
        key: new SigningKey(this.options.open(workspaceId, secret.sealed)),
        expiresAtMs: secret.expiresAt?.getTime(),
      })),
    };
  }
}
