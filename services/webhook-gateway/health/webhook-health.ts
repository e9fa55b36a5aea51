/**
 * GetWebhookHealth: what a user needs to troubleshoot their Resend webhook
 * without reading logs — last accepted event, and accepted, duplicate and
 * rejected counts by reason over the last 24 hours (whole UTC hours), and the
 * endpoint's state: a secret this gateway's SECRETS_KEY cannot decrypt is
 * named by its key id, since webhooks it would verify are answered 503.
 */
import { NotFoundError } from "../../shared/errors.ts";
import { requireWorkspaceId } from "../../shared/validation.ts";
import type { WorkspaceRepository } from "../workspace/workspace-repository.ts";
import { providerOf } from "../workspace/provider-credentials.ts";
import { describeSecrets, type SecretInfo } from "../workspace/secrets.ts";
import type { HealthRecorder } from "./health-recorder.ts";
import { hourKey, type Counts, type HealthRepository } from "./health-repository.ts";
import { healthCounters } from "./outcomes.ts";

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
}

export interface HealthDeps {
  workspaces: WorkspaceRepository;
  health: HealthRepository;
  recorder: HealthRecorder;
  /** Whether this gateway's SECRETS_KEY opens a stored secret, and the id of the key that sealed it. */
  inspect(workspaceId: string, sealed: string): { keyId: string; decryptable: boolean };
  now(): Date;
}

export async function getWebhookHealth(deps: HealthDeps, workspaceId: string): Promise<WebhookHealth> {
  requireWorkspaceId(workspaceId);
  const workspace = await deps.workspaces.find(workspaceId);
  if (!workspace) throw new NotFoundError(`workspace "${workspaceId}"`);
  const now = deps.now();
  const currentHour = Date.parse(`${hourKey(now)}:00:00Z`);
  const hours = Array.from({ length: 25 }, (_, i) => hourKey(new Date(currentHour - (24 - i) * 3_600_000)));
  const { stored, pending } = await deps.recorder.withFlushed(async () => ({
    stored: await deps.health.read(workspaceId, hours),
    pending: deps.recorder.unflushed(workspaceId, hours),
  }));
  const counts = { ...stored.counts };
  for (const name of healthCounters) counts[name] += pending.counts[name];
  const latest = [stored.lastAcceptedAt, pending.lastAcceptedAt].filter((at): at is Date => at !== undefined);
  const active = workspace.secrets.filter((secret) => !secret.expiresAt || secret.expiresAt > now);
  const secrets = active.map((secret): SecretHealth => {
    const { keyId, decryptable } = deps.inspect(workspaceId, secret.sealed);
    return { ...describeSecrets([secret], now)[0]!, keyId, undecryptable: !decryptable };
  });
  // Only /webhooks/resend takes webhooks so far, so Resend's secrets decide the state: a workspace with only a
  // Postmark credential has no working endpoint yet (issue 14 adds the other providers' endpoints).
  const deciding = secrets.filter((_, index) => providerOf(active[index]!) === "resend");
  const undecryptableKeyIds = [...new Set(deciding.filter((secret) => secret.undecryptable).map((secret) => secret.keyId))];
  return {
    windowStart: new Date(currentHour - 24 * 3_600_000),
    ...(latest.length ? { lastAcceptedAt: new Date(Math.max(...latest.map((at) => at.getTime()))) } : {}),
    counts,
    secrets,
    state: deciding.length === 0 ? "no_secret" : undecryptableKeyIds.length > 0 ? "secret_undecryptable" : "ok",
    undecryptableKeyIds,
  };
}
