/**
 * GetWebhookHealth: what a user needs to troubleshoot their webhooks (every provider's)
 * without reading logs — last accepted event, and accepted, duplicate and
 * rejected counts by reason over the last 24 hours (whole UTC hours), and the
 * endpoint's state: a secret this gateway's SECRETS_KEY cannot decrypt is
 * named by its key id, since webhooks it would verify are answered 503 — and
 * whether the workspace is silent (sends recorded, no verified webhook since; silence.ts).
 */
import { NotFoundError } from "../../shared/errors.ts";
import { requireWorkspaceId } from "../../shared/validation.ts";
import type { WorkspaceRepository } from "../workspace/workspace-repository.ts";
import { describeSecrets, type SecretInfo } from "../workspace/secrets.ts";
import { describeApiKey, type ApiKeyInfo } from "../workspace/api-keys.ts";
import type { HealthRecorder } from "./health-recorder.ts";
import { hourKey, type Counts, type HealthRepository } from "./health-repository.ts";
import { healthCounters } from "./outcomes.ts";
import { silentSince } from "./silence.ts";
import type { SilenceRepository } from "./silence-repository.ts";

export type WebhookState = "ok" | "no_secret" | "secret_undecryptable";

/** An active secret as health shows it: its description, the key that sealed it, and whether that key is here. */
export interface SecretHealth extends SecretInfo {
  keyId: string;
  undecryptable: boolean;
}

export interface WebhookHealth {
  windowStart: Date;
  lastAcceptedAt?: Date;
  counts: Counts;
  secrets: SecretHealth[];
  state: WebhookState;
  /** Distinct key ids of the active secrets SECRETS_KEY cannot decrypt. */
  undecryptableKeyIds: string[];
  /** Provider API keys for reconciliation (fingerprints only); they do not change the webhook state. */
  apiKeys: (ApiKeyInfo & { keyId: string; undecryptable: boolean })[];
  /** Set while the workspace is silent: when the first send no verified webhook came after was recorded. */
  silentSince?: Date;
}

export interface HealthDeps {
  workspaces: WorkspaceRepository;
  health: HealthRepository;
  recorder: HealthRecorder;
  /** Whether this gateway's SECRETS_KEY opens a stored secret, and the id of the key that sealed it. */
  inspect(workspaceId: string, sealed: string): { keyId: string; decryptable: boolean };
  /** The same for a stored provider API key. */
  inspectApiKey(workspaceId: string, sealed: string): { keyId: string; decryptable: boolean };
  silences: Pick<SilenceRepository, "find">;
  /** RECONCILE_SILENCE_MINUTES, in milliseconds. */
  silenceMs: number;
  now(): Date;
}

export async function getWebhookHealth(deps: HealthDeps, workspaceId: string): Promise<WebhookHealth> {
  requireWorkspaceId(workspaceId);
  const workspace = await deps.workspaces.find(workspaceId);
  if (!workspace) throw new NotFoundError(`workspace "${workspaceId}"`);
  const now = deps.now();
  const currentHour = Date.parse(`${hourKey(now)}:00:00Z`);
  const hours = Array.from({ length: 25 }, (_, i) => hourKey(new Date(currentHour - (24 - i) * 3_600_000)));
  const [{ stored, pending }, silence] = await Promise.all([
    deps.recorder.withFlushed(async () => ({
      stored: await deps.health.read(workspaceId, hours),
      pending: deps.recorder.unflushed(workspaceId, hours),
    })),
    deps.silences.find(workspaceId),
  ]);
  const counts = { ...stored.counts };
  for (const name of healthCounters) counts[name] += pending.counts[name];
  const latest = [stored.lastAcceptedAt, pending.lastAcceptedAt].filter((at): at is Date => at !== undefined);
  const lastAcceptedAt = latest.length ? new Date(Math.max(...latest.map((at) => at.getTime()))) : undefined;
  const silent = silence && silentSince(silence.state, lastAcceptedAt, now, deps.silenceMs);
  const active = workspace.secrets.filter((secret) => !secret.expiresAt || secret.expiresAt > now);
  const secrets = active.map((secret): SecretHealth => {
    const { keyId, decryptable } = deps.inspect(workspaceId, secret.sealed);
    return { ...describeSecrets([secret], now)[0]!, keyId, undecryptable: !decryptable };
  });
  // Every provider's endpoint takes webhooks, so every active credential decides the state.
  const undecryptableKeyIds = [...new Set(secrets.filter((secret) => secret.undecryptable).map((secret) => secret.keyId))];
  return {
    windowStart: new Date(currentHour - 24 * 3_600_000),
    ...(lastAcceptedAt ? { lastAcceptedAt } : {}),
    counts,
    secrets,
    state: secrets.length === 0 ? "no_secret" : undecryptableKeyIds.length > 0 ? "secret_undecryptable" : "ok",
    undecryptableKeyIds,
    apiKeys: (workspace.apiKeys ?? []).map((key) => {
      const { keyId, decryptable } = deps.inspectApiKey(workspaceId, key.sealed);
      return { ...describeApiKey(key), keyId, undecryptable: !decryptable };
    }),
    ...(silent ? { silentSince: silent } : {}),
  };
}
