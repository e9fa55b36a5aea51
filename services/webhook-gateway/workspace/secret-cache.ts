/**
 * The gateway's view of each workspace's signing keys, cached so a webhook
 * costs no database work beyond a cache miss. Entries expire after a short
 * time even if an invalidation message is lost; unknown workspaces are cached
 * as misses for a shorter time; concurrent misses share one load.
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
  private readonly entries = new Map<string, { value: WorkspaceKeys; expiresAt: number }>();
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
    const value = cached && cached.expiresAt > now ? cached.value : await this.load(workspaceId);
    return { exists: value.exists, keys: value.keys.filter((key) => key.expiresAtMs === undefined || key.expiresAtMs > now) };
  }

  /** Forgets a workspace (its secrets changed). */
  invalidate(workspaceId: string): void {
    this.entries.delete(workspaceId);
  }

  private load(workspaceId: string): Promise<WorkspaceKeys> {
    const inFlight = this.loading.get(workspaceId);
    if (inFlight) return inFlight;
    const loaded = this.options
      .load(workspaceId)
      .then((record) => {
        const value = this.toKeys(workspaceId, record);
        const ttl = value.keys.length > 0 ? this.options.ttlMs : this.options.missTtlMs;
        if (this.entries.size >= this.options.maxEntries) this.entries.delete(this.entries.keys().next().value!);
        this.entries.set(workspaceId, { value, expiresAt: this.now() + ttl });
        return value;
      })
      .finally(() => this.loading.delete(workspaceId));
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
