/**
 * The bulk-sender limits (issue 18), pure: since 2024 Gmail and Yahoo require bulk senders to keep the
 * daily spam-complaint rate under 0.3 % (aim under 0.1 %), and Microsoft rejects non-compliant bulk mail
 * since May 2025 — each provider judging on its own. Given a workspace-day's counts per provider and the
 * limit state stored with them, decide which level's limit a provider's rate reached (fire once, disarm)
 * or fell below 80 % of (re-arm), with the hysteresis of campaign alerts (alerts.ts `stepThreshold`).
 */
import { stepThreshold } from "../alerts.ts";
import { mailboxProviders, type MailboxProvider } from "./mailbox-provider.ts";
import type { ProviderCounts } from "./provider-counts.ts";

export type LimitLevel = "warning" | "critical";
export const limitLevels: readonly LimitLevel[] = ["warning", "critical"];

export interface BulkSenderLimits {
  /** Complaint rates (fractions) of each level. */
  readonly warning: number;
  readonly critical: number;
  /** No limit fires for a provider's day with fewer delivered (DELIVERABILITY_MIN_DELIVERED). */
  readonly minDelivered: number;
}

export const defaultBulkSenderLimits: BulkSenderLimits = Object.freeze({ warning: 0.001, critical: 0.003, minDelivered: 1000 });

/** Per provider and level: armed (may fire) and how many times it fired that day. */
export type LimitState = Partial<Record<MailboxProvider, Record<LimitLevel, { armed: boolean; crossings: number }>>>;

/** A crossing to publish, kept in the day document's outbox until published. */
export interface PendingLimitAlert {
  day: number;
  provider: MailboxProvider;
  level: LimitLevel;
  crossing: number;
  rate: number;
  threshold: number;
  delivered: number;
  complained: number;
  at: number;
}

/** The limit state of a day after its counts changed, and the crossings that fire now. */
export function evaluateLimits(
  state: LimitState,
  byProvider: ProviderCounts,
  limits: BulkSenderLimits,
  day: number,
  now: number,
): { state: LimitState; fired: PendingLimitAlert[] } {
  const next: LimitState = {};
  const fired: PendingLimitAlert[] = [];
  for (const provider of mailboxProviders) {
    const counts = byProvider[provider];
    const stored = state[provider];
    if (!counts && !stored) continue;
    const levels = { warning: { armed: true, crossings: 0, ...stored?.warning }, critical: { armed: true, crossings: 0, ...stored?.critical } };
    const delivered = counts?.delivered ?? 0;
    const complained = counts?.complained ?? 0;
    const rate = delivered > 0 ? complained / delivered : 0;
    for (const level of limitLevels) {
      if (stepThreshold(levels[level], rate, limits[level], delivered >= limits.minDelivered)) {
        fired.push({ day, provider, level, crossing: levels[level].crossings, rate, threshold: limits[level], delivered, complained, at: now });
      }
    }
    next[provider] = levels;
  }
  return { state: next, fired };
}

/** The message id of a crossing: one event per crossing, whoever publishes it how often. */
export function limitAlertMessageId(workspaceId: string, alert: Pick<PendingLimitAlert, "day" | "provider" | "level" | "crossing">): string {
  return `${workspaceId}:deliverability:${alert.day}:${alert.provider}:${alert.level}:${alert.crossing}`;
}
