/**
 * What the e2e benchmark sends and how it counts what it sees: realistic
 * Resend event bodies, and the campaign counts each of them adds one of.
 */
import { randomUUID } from "node:crypto";
import { sampleEmailEvent, type EmailEventType } from "../../cli/resend-samples.ts";
import type { CampaignStats } from "../../gen/ngsreach/stats/v1/campaign_stats_pb.ts";
import { eventMix } from "../gateway/events.ts";

/**
 * One realistic event per email id (the gateway benchmark's mix), so each adds exactly one count; `send`
 * makes it one event of a given send instead.
 */
export function eventBody(n: number, campaign: string, send?: { emailId: string; type: EmailEventType }): string {
  const type = send?.type ?? eventMix[n % eventMix.length]!;
  return JSON.stringify(
    sampleEmailEvent(type, {
      emailId: send?.emailId ?? randomUUID(),
      createdAt: new Date(),
      from: "Acme Product Team <newsletter@mail.acme-example.com>",
      to: [`subscriber.${n}@customer-domain-${n % 997}.example.com`],
      subject: "Your November product update: faster dashboards, new integrations and a sneak peek at what's next",
      tags: {
        campaign_id: campaign,
        subscriber_id: `sub_${n}`,
        list_id: `lst_${(n % 12).toString().padStart(3, "0")}`,
        ab_variant: n % 2 === 0 ? "subject_a" : "subject_b",
        utm_source: "ngsreach",
        utm_campaign: campaign,
        send_batch_id: `batch_${randomUUID()}`,
        template_version: "newsletter-2026-11-v14",
      },
      click: type === "email.clicked" ? { link: `https://www.acme-example.com/blog/november-update?ref=${n}` } : undefined,
      bounce: type === "email.bounced" ? { type: n % 3 === 0 ? "Transient" : "Permanent", subType: n % 3 === 0 ? "MailboxFull" : "General" } : undefined,
    }),
  );
}

/** Counts that one single-event send adds exactly one of (unique_* and scanner counts left out: they double up). */
export function eventsReflected(stats: CampaignStats): number {
  return Number(stats.sent + stats.delivered + stats.deliveryDelayed + stats.hardBounced + stats.softBounced + stats.complained + stats.failed + stats.suppressed + stats.opens + stats.clicks);
}

/** The p-th percentile of ascending values (nearest rank). */
export const percentile = (sorted: number[], p: number) => (sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!);
