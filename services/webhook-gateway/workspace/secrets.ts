/**
 * Use cases for a workspace's webhook signing secrets: set, rotate (the old
 * secret stays valid until removed or until its expiry, 24 h by default, as
 * Svix does), remove. Secrets are sealed before they are stored; what comes
 * back is only fingerprints, roles and times. Each change is saved together
 * with its audit entry, which is then recorded and announced through the
 * outbox (secret-outbox.ts): a failure after the save no longer turns a
 * change that was made into an error, nor leaves it unannounced.
 *
 * Secrets are held per (workspace, provider): each change reads and writes one
 * provider's secrets only, and leaves every other provider's as they were.
 */
import { randomUUID } from "node:crypto";
import type { AuditActionName, AuditRecord } from "../../shared/audit.ts";
import { InvalidArgumentError, NotFoundError, UnavailableError } from "../../shared/errors.ts";
import { requireWorkspaceId } from "../../shared/validation.ts";
import { credentialFingerprint, providerOf, requireCredential, type Provider } from "./provider-credentials.ts";
import { flushSecretOutbox, serialiseOutboxEntry, type SecretOutboxDeps } from "./secret-outbox.ts";
import type { StoredSecret, WorkspaceRecord } from "./workspace-repository.ts";

export interface SecretDeps extends SecretOutboxDeps {
  seal(workspaceId: string, secret: string): string;
  now(): Date;
}

/** What callers may see of a secret. */
export interface SecretInfo {
  provider: Provider;
  fingerprint: string;
  role: StoredSecret["role"];
  createdAt: Date;
  expiresAt?: Date;
}

export interface Audit {
  /** The authenticated caller (the token's name, "local" when auth is off). */
  caller: string;
  actor: string;
  note: string;
}

/** The audit entry of a change to a workspace's settings (its secrets or API keys), saved with it in the outbox. */
export function settingsAuditEntry(workspaceId: string, action: AuditActionName, audit: Audit, target: string, now: Date): AuditRecord {
  return {
    id: randomUUID(),
    workspaceId,
    service: "webhook-gateway",
    action,
    caller: audit.caller,
    actor: audit.actor || "unknown",
    note: audit.note,
    target,
    atMs: now.getTime(),
  };
}

export const defaultOldSecretTtlSeconds = 86_400;
const maxOldSecretTtlSeconds = 7 * 86_400;

/** Active (unexpired) secrets of a workspace, without the sealed material. */
export function describeSecrets(secrets: readonly StoredSecret[], now: Date): SecretInfo[] {
  return secrets
    .filter((secret) => !secret.expiresAt || secret.expiresAt > now)
    .map((secret) => {
      const { fingerprint, role, createdAt, expiresAt } = secret;
      return { provider: providerOf(secret), fingerprint, role, createdAt, ...(expiresAt ? { expiresAt } : {}) };
    });
}

/** Replaces every secret of the provider by this one (creating the workspace if needed). */
export async function setWebhookSecret(deps: SecretDeps, workspaceId: string, secret: string, audit: Audit, provider: Provider = "resend") {
  requireWorkspaceId(workspaceId);
  requireCredential(provider, secret, "secret");
  return await change(deps, workspaceId, provider, "set_webhook_secret", audit, (own) => {
    // The secret already in use, and nothing else active: a no-op (as the proto promises), no write, no audit entry.
    const active = own.filter((stored) => !stored.expiresAt || stored.expiresAt > deps.now());
    if (active.length === 1 && active[0]!.fingerprint === credentialFingerprint(provider, secret)) return unchanged;
    return [newSecret(deps, workspaceId, provider, secret)];
  });
}

/** What a `change` computation returns when there is nothing to change. */
const unchanged: StoredSecret[] = [];

/** Makes `newSecret` current and keeps the current one as `previous` for `ttlSeconds` (0 drops it). */
export async function rotateWebhookSecret(
  deps: SecretDeps,
  workspaceId: string,
  secret: string,
  ttlSeconds: number | undefined,
  audit: Audit,
  provider: Provider = "resend",
) {
  requireWorkspaceId(workspaceId);
  requireCredential(provider, secret, "new_secret");
  const ttl = ttlSeconds ?? defaultOldSecretTtlSeconds;
  if (ttl < 0 || ttl > maxOldSecretTtlSeconds) {
    throw new InvalidArgumentError("old_secret_ttl_seconds", `must be 0..${maxOldSecretTtlSeconds}`);
  }
  return await change(deps, workspaceId, provider, "rotate_webhook_secret", audit, (own) => {
    const current = own.find((stored) => stored.role === "current");
    if (!current) throw new NotFoundError(`${provider} webhook secret of workspace "${workspaceId}" (set one before rotating)`);
    if (current.fingerprint === credentialFingerprint(provider, secret)) {
      throw new InvalidArgumentError("new_secret", "is the secret already in use");
    }
    const next = [newSecret(deps, workspaceId, provider, secret)];
    if (ttl > 0) next.push({ ...current, role: "previous", expiresAt: new Date(deps.now().getTime() + ttl * 1000) });
    return next;
  });
}

/** Removes the provider's previous secret (default) or every secret of it; returns how many were removed. */
export async function removeWebhookSecret(
  deps: SecretDeps,
  workspaceId: string,
  which: "previous" | "all",
  audit: Audit,
  provider: Provider = "resend",
) {
  requireWorkspaceId(workspaceId);
  let removed = 0;
  const secrets = await change(deps, workspaceId, provider, "remove_webhook_secret", audit, (own, record) => {
    if (!record) throw new NotFoundError(`workspace "${workspaceId}"`);
    const kept = which === "all" ? [] : own.filter((secret) => secret.role === "current");
    removed = describeSecrets(own, deps.now()).length - describeSecrets(kept, deps.now()).length;
    return kept;
  });
  return { removed, secrets };
}

function newSecret(deps: SecretDeps, workspaceId: string, provider: Provider, secret: string): StoredSecret {
  const fingerprint = credentialFingerprint(provider, secret);
  return { sealed: deps.seal(workspaceId, secret), fingerprint, role: "current", createdAt: deps.now(), provider };
}

/**
 * The audit target: the provider's fingerprints after the change. Resend's stay bare, as they were
 * before other providers existed (readers of the log match on them); others are prefixed "provider:".
 */
const auditTarget = (provider: Provider, secrets: readonly StoredSecret[]) => {
  const fingerprints = secrets.map((secret) => secret.fingerprint).join(",");
  return provider === "resend" ? fingerprints : `${provider}:${fingerprints}`;
};

/**
 * Read, compute the provider's secrets (the others are kept as stored), write with its audit entry under
 * a version guard (retried on a concurrent change); then record and announce.
 */
async function change(
  deps: SecretDeps,
  workspaceId: string,
  provider: Provider,
  action: AuditActionName,
  audit: Audit,
  compute: (own: StoredSecret[], record: WorkspaceRecord | undefined) => StoredSecret[],
): Promise<SecretInfo[]> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const record = await deps.repository.find(workspaceId);
    const stored = record?.secrets ?? [];
    const own = stored.filter((secret) => providerOf(secret) === provider);
    const computed = compute(own, record);
    if (computed === unchanged) return describeSecrets(own, deps.now());
    const secrets = computed;
    const others = stored.filter((secret) => providerOf(secret) !== provider);
    const now = deps.now();
    const outboxEntry = serialiseOutboxEntry(settingsAuditEntry(workspaceId, action, audit, auditTarget(provider, secrets), now));
    if (await deps.repository.save(workspaceId, [...others, ...secrets], record?.version ?? 0, now, outboxEntry)) {
      // The change is stored: the caller is told so whatever happens next; the sweep finishes what fails here.
      await flushSecretOutbox(deps, workspaceId, [outboxEntry]);
      return describeSecrets(secrets, now);
    }
  }
  throw new UnavailableError(`workspace "${workspaceId}" kept changing concurrently; retry`);
}
