/**
 * Use cases for a workspace's provider API keys (issue 16): the key
 * reconciliation uses to ask the provider what became of sends whose webhooks
 * were lost. Stored like webhook secrets — sealed (purpose "provider-api-key",
 * bound to the workspace), in the workspace's document, version-guarded, and
 * audited through the same outbox — and, like them, never returned: callers
 * see the provider and a fingerprint. Only Resend has a reconciliation, so only
 * Resend keys are accepted for now.
 */
import type { AuditActionName } from "../../shared/audit.ts";
import { InvalidArgumentError, UnavailableError } from "../../shared/errors.ts";
import { requireWorkspaceId } from "../../shared/validation.ts";
import type { Provider } from "../providers/provider-adapter.ts";
import { secretFingerprint } from "./secret-box.ts";
import { flushSecretOutbox, serialiseOutboxEntry, type SecretOutboxDeps } from "./secret-outbox.ts";
import { settingsAuditEntry, type Audit } from "./secrets.ts";
import type { StoredApiKey, WorkspaceRecord } from "./workspace-repository.ts";

export interface ApiKeyDeps extends SecretOutboxDeps {
  sealApiKey(workspaceId: string, apiKey: string): string;
  now(): Date;
}

/** What callers may see of a stored key. */
export interface ApiKeyInfo {
  provider: Provider;
  fingerprint: string;
  createdAt: Date;
}

// Resend's keys are "re_" and then letters, digits, "_" (seen: re_123abc45_XyZ...); the bounds leave room
// for a longer format without letting a pasted paragraph through.
const resendKeyPattern = /^re_[A-Za-z0-9_-]{7,197}$/;

/** Throws InvalidArgument (provider) for a provider without reconciliation. */
export function requireReconcilableProvider(provider: Provider): "resend" {
  if (provider !== "resend") throw new InvalidArgumentError("provider", "only RESEND API keys can be stored for now");
  return provider;
}

/** Checks the key's shape; the message never echoes the value. */
function requireResendApiKey(apiKey: string): void {
  if (!apiKey.startsWith("re_")) throw new InvalidArgumentError("api_key", "a Resend API key starts with re_");
  if (!resendKeyPattern.test(apiKey)) throw new InvalidArgumentError("api_key", "must be 10 to 200 characters of [A-Za-z0-9_-]");
}

export const describeApiKey = ({ provider, fingerprint, createdAt }: StoredApiKey): ApiKeyInfo => ({ provider, fingerprint, createdAt });

/** Stores (or replaces) the provider's key; setting the key already stored writes nothing. */
export async function setProviderApiKey(deps: ApiKeyDeps, workspaceId: string, provider: Provider, apiKey: string, audit: Audit): Promise<ApiKeyInfo> {
  requireWorkspaceId(workspaceId);
  requireReconcilableProvider(provider);
  requireResendApiKey(apiKey);
  const fingerprint = secretFingerprint(apiKey);
  let stored: StoredApiKey | undefined;
  await change(deps, workspaceId, provider, "set_provider_api_key", audit, `${provider}:${fingerprint}`, (own) => {
    if (own?.fingerprint === fingerprint) {
      stored = own;
      return undefined;
    }
    stored = { provider, sealed: deps.sealApiKey(workspaceId, apiKey), fingerprint, createdAt: deps.now() };
    return stored;
  });
  return describeApiKey(stored!);
}

/** Removes the provider's key; false when there was none (nothing written, nothing audited). */
export async function removeProviderApiKey(deps: ApiKeyDeps, workspaceId: string, provider: Provider, audit: Audit): Promise<boolean> {
  requireWorkspaceId(workspaceId);
  requireReconcilableProvider(provider);
  let removed = false;
  await change(deps, workspaceId, provider, "remove_provider_api_key", audit, undefined, (own) => {
    removed = own !== undefined;
    return removed ? null : undefined;
  });
  return removed;
}

/**
 * Read, compute the provider's key (undefined: nothing to do; null: remove it), write with its audit entry
 * under the version guard (retried on a concurrent change), then record and announce.
 */
async function change(
  deps: ApiKeyDeps,
  workspaceId: string,
  provider: Provider,
  action: AuditActionName,
  audit: Audit,
  target: string | undefined,
  compute: (own: StoredApiKey | undefined) => StoredApiKey | null | undefined,
): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const record: WorkspaceRecord | undefined = await deps.repository.find(workspaceId);
    const keys = record?.apiKeys ?? [];
    const own = keys.find((key) => key.provider === provider);
    const next = compute(own);
    if (next === undefined) return;
    const others = keys.filter((key) => key.provider !== provider);
    const now = deps.now();
    const outboxEntry = serialiseOutboxEntry(settingsAuditEntry(workspaceId, action, audit, target ?? `${provider}:${own?.fingerprint ?? ""}`, now));
    if (await deps.repository.saveApiKeys(workspaceId, next === null ? others : [...others, next], record?.version ?? 0, now, outboxEntry)) {
      await flushSecretOutbox(deps, workspaceId, [outboxEntry]);
      return;
    }
  }
  throw new UnavailableError(`workspace "${workspaceId}" kept changing concurrently; retry`);
}
