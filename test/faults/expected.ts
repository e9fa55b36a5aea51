/**
 * What the services must show, recomputed from the acknowledged INPUT only (never from their state), by
 * DESIGN.md's rules — the same for every provider, since each event is planned as the kind it means:
 *
 * - statistics: send counts count sends, opens/clicks count distinct events, unsubscribes count sends;
 * - status: the fold in event-time order — sent < delivery_delayed < delivered < opened < clicked, the
 *   terminals (hard bounce, complaint, failure, suppression) override them and the later terminal wins,
 *   except that a complaint is never replaced by a bounce; soft bounces and unsubscribes move nothing;
 * - suppression: a hard bounce, complaint, email.suppressed or unsubscribe suppresses the addresses the
 *   provider named (an SES bounce names its recipients), else the single `to` address — never every
 *   recipient of an email (the workload registers no send records: attribution is by tags).
 */
import type { Ledger, HostileEvent } from "./ledger.ts";
import type { PlannedEvent } from "./workload.ts";

export type StatusName = "sent" | "delivery_delayed" | "delivered" | "opened" | "clicked" | "bounced" | "complained" | "failed" | "suppressed";

export interface Expected {
  byEmail: Map<string, PlannedEvent[]>;
  status: Map<string, StatusName>;
  campaigns: Map<string, Record<string, number>>;
  suppressed: Set<string>;
  /** Every address the run involved (hostile requests' victims included): each is checked. */
  addresses: Set<string>;
}

const emptyCounts = () => ({
  sent: 0,
  delivered: 0,
  deliveryDelayed: 0,
  hardBounced: 0,
  softBounced: 0,
  complained: 0,
  failed: 0,
  suppressed: 0,
  unsubscribed: 0,
  opens: 0,
  uniqueOpens: 0,
  clicks: 0,
  uniqueClicks: 0,
});

const isHard = (event: PlannedEvent) => event.type === "email.bounced" && event.bounceType === "Permanent";

const progressRank: Partial<Record<PlannedEvent["type"], number>> = {
  "email.sent": 1,
  "email.delivery_delayed": 2,
  "email.delivered": 3,
  "email.opened": 4,
  "email.clicked": 5,
};
const progressName: StatusName[] = ["sent", "sent", "delivery_delayed", "delivered", "opened", "clicked"];
const terminalOf: Partial<Record<PlannedEvent["type"], StatusName>> = { "email.complained": "complained", "email.failed": "failed", "email.suppressed": "suppressed" };

/** A send's status from its events (any order). */
export function statusOf(events: readonly PlannedEvent[]): StatusName {
  const ordered = [...events].sort((a, b) => a.atMs - b.atMs || (a.svixId < b.svixId ? -1 : a.svixId > b.svixId ? 1 : 0));
  let progress = 0;
  let terminal: StatusName | undefined;
  for (const event of ordered) {
    progress = Math.max(progress, progressRank[event.type] ?? 0);
    if (isHard(event)) {
      if (terminal !== "complained") terminal = "bounced";
    } else {
      terminal = terminalOf[event.type] ?? terminal;
    }
  }
  return terminal ?? progressName[progress]!;
}

/** The addresses an event suppresses: those named, else a sole recipient, else none. */
function suppressedBy(event: PlannedEvent): readonly string[] {
  const suppresses = isHard(event) || event.type === "email.complained" || event.type === "email.suppressed" || event.type === "email.unsubscribed";
  if (!suppresses) return [];
  if (event.recipientsNamed) return event.recipients;
  return event.recipients.length === 1 ? event.recipients : [];
}

/** Recomputes statuses, statistics and suppression from the acknowledged input only. */
export function expectedFrom(ledger: Ledger, skip: ReadonlySet<string> = new Set()): Expected {
  const byEmail = new Map<string, PlannedEvent[]>();
  const addresses = new Set<string>();
  for (const entry of ledger.entries.values()) {
    if (entry.hostile) for (const address of (entry.event as HostileEvent).addresses ?? []) addresses.add(address);
    else for (const address of (entry.event as PlannedEvent).recipients) addresses.add(address);
  }
  for (const event of ledger.acknowledgedEvents()) {
    if (skip.has(event.svixId)) continue;
    byEmail.set(event.emailId, [...(byEmail.get(event.emailId) ?? []), event]);
  }
  const campaigns = new Map<string, Record<string, number>>();
  const status = new Map<string, StatusName>();
  const suppressed = new Set<string>();
  for (const [emailId, events] of byEmail) {
    const campaign = events[0]!.campaignId;
    const counts = campaigns.get(campaign) ?? emptyCounts();
    campaigns.set(campaign, counts);
    const has = (type: string) => events.some((e) => e.type === type);
    const count = (type: string) => events.filter((e) => e.type === type).length;
    if (has("email.sent")) counts.sent++;
    if (has("email.delivered")) counts.delivered++;
    if (has("email.delivery_delayed")) counts.deliveryDelayed++;
    if (events.some(isHard)) counts.hardBounced++;
    if (events.some((e) => e.type === "email.bounced" && !isHard(e))) counts.softBounced++;
    if (has("email.complained")) counts.complained++;
    if (has("email.failed")) counts.failed++;
    if (has("email.suppressed")) counts.suppressed++;
    if (has("email.unsubscribed")) counts.unsubscribed++;
    counts.opens += count("email.opened");
    if (has("email.opened")) counts.uniqueOpens++;
    counts.clicks += count("email.clicked");
    if (has("email.clicked")) counts.uniqueClicks++;
    status.set(emailId, statusOf(events));
    for (const event of events) for (const address of suppressedBy(event)) suppressed.add(address);
  }
  return { byEmail, status, campaigns, suppressed, addresses };
}
