/**
 * Use cases for a workspace's webhook signing secrets: set, rotate (the old
 * secret stays valid until removed or until its expiry, 24 h by default, as
 * Svix does), remove. Secrets are sealed before they are stored; what comes
 * back is only fingerprints, roles and times.
 */
import { InvalidArgumentError, NotFoundError } from "../../shared/errors.ts";
import { requireWorkspaceId } from "../../shared/validation.ts";
import { requireWebhookSecret } from "./secret-format.ts";
import { secretFingerprint } from "./secret-box.ts";
import type { StoredSecret, WorkspaceRecord, WorkspaceRepository } from "./workspace-repository.ts";

export interface SecretDeps {
  repository: WorkspaceRepository;
  seal(workspaceId: string, secret: string): string;
  /** Tells every gateway instance to drop its cached keys for the workspace. */
  announce(workspaceId: string): Promise<void>;
  now(): Date;
}

/** What callers may see of a secret. */
export interface SecretInfo {
  fingerprint: string;
  role: StoredSecret["role"];
  createdAt: Date;
  expiresAt?: Date;
}

export interface Audit {
  actor: string;
  note: string;
}

export const defaultOldSecretTtlSeconds = 86_400;
const maxOldSecretTtlSeconds = 7 * 86_400;

/** Active (unexpired) secrets of a workspace, without the sealed material. */
export function describeSecrets(secrets: readonly StoredSecret[], now: Date): SecretInfo[] {
  return secrets
    .filter((secret) => !secret.expiresAt || secret.expiresAt > now)
    .map(({ fingerprint, role, createdAt, expiresAt }) => ({ fingerprint, role, createdAt, ...(expiresAt ? { expiresAt } : {}) }));
}

/** Replaces every secret of the workspace by this one (creating the workspace if needed). */
export async function setWebhookSecret(deps: SecretDeps, workspaceId: string, secret: string, audit: Audit) {
  requireWorkspaceId(workspaceId);
  requireWebhookSecret(secret, "secret");
  return await change(deps, workspaceId, "set", audit, () => [newSecret(deps, workspaceId, secret)]);
}

/** Makes `newSecret` current and keeps the current one as `previous` for `ttlSeconds` (0 drops it). */
export async function rotateWebhookSecret(
  deps: SecretDeps,
  workspaceId: string,
  secret: string,
  ttlSeconds: number | undefined,
  audit: Audit,
) {
  requireWorkspaceId(workspaceId);
  requireWebhookSecret(secret, "new_secret");
  const ttl = ttlSeconds ?? defaultOldSecretTtlSeconds;
  if (ttl < 0 || ttl > maxOldSecretTtlSeconds) {
    throw new InvalidArgumentError("old_secret_ttl_seconds", `must be 0..${maxOldSecretTtlSeconds}`);
  }
  return await change(deps, workspaceId, "rotate", audit, (record) => {
    const current = record?.secrets.find((stored) => stored.role === "current");
    if (!current) throw new NotFoundError(`webhook secret of workspace "${workspaceId}" (set one before rotating)`);
    if (current.fingerprint === secretFingerprint(secret)) {
      throw new InvalidArgumentError("new_secret", "is the secret already in use");
    }
    const next = [newSecret(deps, workspaceId, secret)];
    if (ttl > 0) next.push({ ...current, role: "previous", expiresAt: new Date(deps.now().getTime() + ttl * 1000) });
    return next;
  });
}

/** Removes the previous secret (default) or every secret; returns how many were removed. */
export async function removeWebhookSecret(deps: SecretDeps, workspaceId: string, which: "previous" | "all", audit: Audit) {
  requireWorkspaceId(workspaceId);
  let removed = 0;
  const secrets = await change(deps, workspaceId, "remove", audit, (record) => {
    if (!record) throw new NotFoundError(`workspace "${workspaceId}"`);
    const kept = which === "all" ? [] : record.secrets.filter((secret) => secret.role === "current");
    removed = describeSecrets(record.secrets, deps.now()).length - describeSecrets(kept, deps.now()).length;
    return kept;
  });
  return { removed, secrets };
}

function newSecret(deps: SecretDeps, workspaceId: string, secret: string): StoredSecret {
  return { sealed: deps.seal(workspaceId, secret), fingerprint: secretFingerprint(secret), role: "current", createdAt: deps.now() };
}

/** Read, compute, write with a version guard (retried on a concurrent change), audit, announce. */
async function change(
  deps: SecretDeps,
  workspaceId: string,
  action: "set" | "rotate" | "remove",
  audit: Audit,
  compute: (record: WorkspaceRecord | undefined) => StoredSecret[],
): Promise<SecretInfo[]> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const record = await deps.repository.find(workspaceId);
    const secrets = compute(record);
    const now = deps.now();
    if (await deps.repository.save(workspaceId, secrets, record?.version ?? 0, now)) {
      await deps.repository.appendAudit({
        workspaceId,
        action,
        actor: audit.actor || "unknown",
        note: audit.note,
        fingerprints: secrets.map((secret) => secret.fingerprint),
        at: now,
      });
      await deps.announce(workspaceId);
      return describeSecrets(secrets, now);
    }
  }
  throw new Error(`workspace "${workspaceId}" kept changing concurrently; retry`);
}
