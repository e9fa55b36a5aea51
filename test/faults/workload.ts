/**
 * The events a load driver sends: realistic Resend histories (cli/resend-samples.ts)
 * for a population of sends, shuffled so every send's events arrive out of order,
 * with deliberate duplicates (the same svix id delivered again, as Svix retries).
 */
import { randomUUID } from "node:crypto";
import { sampleEmailEvent, type EmailEventType } from "../../cli/resend-samples.ts";
import { newMessageId } from "../../cli/sign.ts";

/** One logical webhook event (one svix id). */
export interface PlannedEvent {
  svixId: string;
  workspaceId: string;
  emailId: string;
  campaignId: string;
  subscriberId: string;
  address: string;
  type: EmailEventType;
  /** Permanent / Transient etc. for email.bounced. */
  bounceType?: string;
  link?: string;
  body: string;
}

export interface Workload {
  workspaceId: string;
  events: PlannedEvent[];
  /** Events in sending order: shuffled, duplicates included (the same object twice). */
  deliveries: PlannedEvent[];
  campaigns: string[];
  addresses: string[];
}

/** A small deterministic PRNG so a failing run can be reproduced from its seed. */
export function rng(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
}

export interface WorkloadOptions {
  workspaceId: string;
  sends: number;
  campaigns?: number;
  /** Share of events delivered twice (default 0.1). */
  duplicateRate?: number;
  seed?: number;
}

/** Builds the histories of `sends` emails and a shuffled delivery order with duplicates. */
export function buildWorkload(options: WorkloadOptions): Workload {
  const random = rng(options.seed ?? Date.now());
  const campaignCount = options.campaigns ?? 2;
  const campaigns = Array.from({ length: campaignCount }, (_, i) => `camp-${i}-${randomUUID().slice(0, 8)}`);
  const events: PlannedEvent[] = [];
  const addresses: string[] = [];
  const base = Date.now() - 3_600_000;
  for (let i = 0; i < options.sends; i++) {
    const emailId = randomUUID();
    const campaignId = campaigns[i % campaignCount]!;
    const subscriberId = `sub-${i}-${emailId.slice(0, 6)}`;
    const address = `user${i}.${emailId.slice(0, 6)}@example.test`;
    addresses.push(address);
    let t = base + i * 1000;
    const add = (type: EmailEventType, extra: { bounce?: { type: string; subType: string }; link?: string } = {}) => {
      t += 60_000 + Math.floor(random() * 60_000);
      const createdAt = new Date(t);
      const body = JSON.stringify(
        sampleEmailEvent(type, {
          emailId,
          to: [address],
          tags: { campaign_id: campaignId, subscriber_id: subscriberId },
          createdAt,
          bounce: extra.bounce,
          click: extra.link ? { link: extra.link, timestamp: createdAt } : undefined,
        }),
      );
      events.push({
        svixId: newMessageId(),
        workspaceId: options.workspaceId,
        emailId,
        campaignId,
        subscriberId,
        address,
        type,
        bounceType: extra.bounce?.type,
        link: extra.link,
        body,
      });
    };
    add("email.sent");
    const roll = random();
    if (roll < 0.1) {
      add("email.bounced", { bounce: { type: "Permanent", subType: "General" } });
    } else if (roll < 0.18) {
      if (random() < 0.5) add("email.delivery_delayed");
      add("email.bounced", { bounce: { type: "Transient", subType: "MailboxFull" } });
    } else if (roll < 0.22) {
      add("email.failed");
    } else if (roll < 0.25) {
      add("email.suppressed");
    } else {
      if (random() < 0.2) add("email.delivery_delayed");
      add("email.delivered");
      const opens = Math.floor(random() * 4);
      for (let k = 0; k < opens; k++) add("email.opened");
      const clicks = opens > 0 ? Math.floor(random() * 3) : 0;
      for (let k = 0; k < clicks; k++) add("email.clicked", { link: `https://example.test/l/${k % 2}` });
      if (random() < 0.06) add("email.complained");
    }
  }
  const deliveries = [...events];
  const duplicateRate = options.duplicateRate ?? 0.1;
  for (const event of events) if (random() < duplicateRate) deliveries.push(event);
  for (let i = deliveries.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [deliveries[i], deliveries[j]] = [deliveries[j]!, deliveries[i]!];
  }
  return { workspaceId: options.workspaceId, events, deliveries, campaigns, addresses };
}
