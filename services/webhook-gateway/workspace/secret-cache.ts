/**
 * The gateway's view of each workspace's signing keys, cached so a webhook
 * costs no database work beyond a cache miss. Entries expire after a short
 * time even if an invalidation message is lost; unknown workspaces are cached
 * as misses for a shorter time; concurrent misses share one load. An
 * invalidation wins over every load that started before it: with several
 * gateway instances, a load running on instance B while A rotates a secret
 * would otherwise cache the old keys for a whole TTL. A stored secret that
 * SECRETS_KEY cannot open is kept as "undecryptable" (with its key id), so
 * the gateway can say why it answers 503 without a database read per request.
 *
 * Under a flood, two things keep verified traffic off the database: a busy
 * workspace's keys are read again in the background during the last fifth of
 * their lifetime (its webhooks never wait for a read queued behind the
 * flood's), and reads for ids not known to exist (known-workspaces.ts) are
 * limited to `unknownReadsPerSecond`; beyond that such an id is answered
 * unknown without a read.
 */
import { SigningKey } from "../webhook/signature.ts";
import type { KnownWorkspaces } from "./known-workspaces.ts";
import { providerOf } from "./provider-credentials.ts";
import { sealedKeyId, SecretUndecryptableError } from "./secret-box.ts";
import type { WorkspaceRecord } from "./workspace-repository.ts";
import type { Provider } from "../../shared/providers.ts";

const hasAny = (value: WorkspaceKeys) => value.keys.length + value.credentials.length + value.undecryptable.length > 0;

export interface ActiveKey {
  key: SigningKey;
  /** Epoch ms after which a previous secret stops verifying; undefined for the current one. */
  expiresAtMs?: number;
}

/** An active secret the gateway's SECRETS_KEY cannot open (the key id is safe to show). */
export interface UndecryptableSecret {
  keyId: string;
  expiresAtMs?: number;
  provider: Provider;
}

/** Another provider's credential, parsed once by its adapter (a public key, a signing key, topic ARNs). */
export interface ProviderCredential {
  provider: Exclude<Provider, "resend">;
  credential: unknown;
  expiresAtMs?: number;
}

export interface WorkspaceKeys {
  /** False when the workspace was never configured. */
  exists: boolean;
  /** Resend's (Svix) signing keys. */
  keys: ActiveKey[];
  /** The other providers' credentials. */
  credentials: ProviderCredential[];
  /**
   * Active secrets that could not be decrypted. Cached like the keys: reading them again per request
   * would not change the answer (only a new SECRETS_KEY, which needs a restart, or a new secret, which
   * invalidates the entry, does), and would cost a database read per request.
   */
  undecryptable: UndecryptableSecret[];
}

export interface SecretCacheOptions {
  load(workspaceId: string): Promise<WorkspaceRecord | undefined>;
  /** Decrypts a stored secret; throws when it cannot (the secret is then reported as undecryptable). */
  open(workspaceId: string, sealed: string): string;
  /**
   * Parses another provider's credential with its adapter (checked when it was set, so a failure means a
   * credential stored by an older, looser check: it verifies nothing). Without it they are ignored.
   */
  parse?(provider: Exclude<Provider, "resend">, text: string): unknown;
  ttlMs: number;
  missTtlMs: number;
  maxEntries: number;
  /** The ids known to exist; without it every miss is read. */
  known?: KnownWorkspaces;
  /** Most reads a second (and in a burst) for ids not known to exist (with `known`). */
  unknownReadsPerSecond?: number;
  /** An id not known to exist was answered unknown without a read (the bound was reached). */
  onLookupSkipped?(): void;
  now?: () => number;
}

const absent: WorkspaceKeys = Object.freeze({ exists: false, keys: [], credentials: [], undecryptable: [] });

/** True when the workspace holds something that may verify this provider's webhooks (or could, were it readable). */
export function configuredFor(workspace: WorkspaceKeys, provider: Provider): boolean {
  const usable = provider === "resend" ? workspace.keys.length > 0 : workspace.credentials.some((c) => c.provider === provider);
  return usable || workspace.undecryptable.some((secret) => secret.provider === provider);
}

export class SecretCache {
  /** `checkedAt`: when the keys were loaded, or last asked for again (refreshIfOlder). */
  private readonly entries = new Map<string, { value: WorkspaceKeys; expiresAt: number; checkedAt: number }>();
  /** The load in flight per workspace; an invalidation removes it, so it neither caches nor serves later callers. */
  private readonly loading = new Map<string, Promise<WorkspaceKeys>>();
  private readonly options: SecretCacheOptions;
  private readonly now: () => number;
  /** Token bucket of reads for ids not known to exist. */
  private readonly unknownReads: { tokens: number; at: number };

  constructor(options: SecretCacheOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.unknownReads = { tokens: options.unknownReadsPerSecond ?? 0, at: this.now() };
  }

  /** The workspace's keys still valid now; loads on a miss (throws when the database is unreachable). */
  async get(workspaceId: string): Promise<WorkspaceKeys> {
    const now = this.now();
    const cached = this.entries.get(workspaceId);
    if (!cached || cached.expiresAt <= now) return this.validAt(await this.load(workspaceId), now);
    const configured = hasAny(cached.value);
    if (configured && cached.expiresAt - now < this.options.ttlMs / 5 && !this.loading.has(workspaceId)) {
      this.load(workspaceId).catch(() => {}); // a failure leaves the entry to expire, and the next read to fail
    }
    return this.validAt(cached.value, now);
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
    const active = (expiresAtMs: number | undefined) => expiresAtMs === undefined || expiresAtMs > now;
    return {
      exists: value.exists,
      keys: value.keys.filter((key) => active(key.expiresAtMs)),
      credentials: value.credentials.filter((credential) => active(credential.expiresAtMs)),
      undecryptable: value.undecryptable.filter((secret) => active(secret.expiresAtMs)),
    };
  }

  /** Forgets a workspace (its secrets changed, so it exists). */
  invalidate(workspaceId: string): void {
    this.options.known?.add(workspaceId);
    this.entries.delete(workspaceId);
    this.loading.delete(workspaceId); // it may have read the old secrets
  }

  private load(workspaceId: string): Promise<WorkspaceKeys> {
    const inFlight = this.loading.get(workspaceId);
    if (inFlight) return inFlight;
    if (!this.mayRead(workspaceId)) {
      this.options.onLookupSkipped?.();
      return Promise.resolve(absent);
    }
    const known = this.options.known;
    const loaded: Promise<WorkspaceKeys> = this.options
      .load(workspaceId)
      .then((record) => {
        if (record) known?.add(workspaceId);
        const value = this.toKeys(workspaceId, record);
        if (this.loading.get(workspaceId) !== loaded) return value; // invalidated meanwhile: answer its callers, keep nothing
        const ttl = hasAny(value) ? this.options.ttlMs : this.options.missTtlMs;
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

  /** True for an id that may exist, or while the budget of reads for unknown ids lasts (then takes one). */
  private mayRead(workspaceId: string): boolean {
    const { known, unknownReadsPerSecond: rate } = this.options;
    if (!known || rate === undefined || known.mayExist(workspaceId)) return true;
    const now = this.now();
    const bucket = this.unknownReads;
    bucket.tokens = Math.min(rate, bucket.tokens + ((now - bucket.at) / 1000) * rate);
    bucket.at = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens--;
    return true;
  }

  private toKeys(workspaceId: string, record: WorkspaceRecord | undefined): WorkspaceKeys {
    const value: WorkspaceKeys = { exists: record !== undefined, keys: [], credentials: [], undecryptable: [] };
    const now = this.now();
    for (const secret of record?.secrets ?? []) {
      const provider = providerOf(secret);
      const expiresAtMs = secret.expiresAt?.getTime();
      // An expired secret verifies nothing: one sealed under a key since removed must not fail the workspace.
      if (expiresAtMs !== undefined && expiresAtMs <= now) continue;
      let text: string;
      try {
        text = this.options.open(workspaceId, secret.sealed);
      } catch (error) {
        const keyId = error instanceof SecretUndecryptableError ? error.keyId : sealedKeyId(secret.sealed);
        value.undecryptable.push({ keyId, expiresAtMs, provider });
        continue;
      }
      if (provider === "resend") {
        try {
          value.keys.push({ key: new SigningKey(text), expiresAtMs });
        } catch {
          value.undecryptable.push({ keyId: sealedKeyId(secret.sealed), expiresAtMs, provider });
        }
        continue;
      }
      if (!this.options.parse) continue;
      try {
        value.credentials.push({ provider, credential: this.options.parse(provider, text), expiresAtMs });
      } catch {
        // Set through an older, looser check: it verifies nothing, and says so nowhere else than here.
      }
    }
    return value;
  }
}
