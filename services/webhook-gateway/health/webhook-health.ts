/**
 * GetWebhookHealth: what a user needs to troubleshoot their Resend webhook
 * without reading logs — last accepted event, and accepted, duplicate and
 * rejected counts by reason over the last 24 hours (whole UTC hours).
 */
import { NotFoundError } from "../../shared/errors.ts";
import { requireWorkspaceId } from "../../shared/validation.ts";
import type { WorkspaceRepository } from "../workspace/workspace-repository.ts";
import { describeSecrets, type SecretInfo } from "../workspace/secrets.ts";
import type { HealthRecorder } from "./health-recorder.ts";
import { hourKey, type Counts, type HealthRepository } from "./health-repository.ts";
import { healthCounters } from "./outcomes.ts";

export interface WebhookHealth {
  windowStart: Date;
  lastAcceptedAt?: Date;
  counts: Counts;
  secrets: SecretInfo[];
}

export interface HealthDeps {
  workspaces: WorkspaceRepository;
  health: HealthRepository;
  recorder: HealthRecorder;
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
  return {
    windowStart: new Date(currentHour - 24 * 3_600_000),
    ...(latest.length ? { lastAcceptedAt: new Date(Math.max(...latest.map((at) => at.getTime()))) } : {}),
    counts,
    secrets: describeSecrets(workspace.secrets, now),
  };
}
