/**
 * A send's statistics state and what it contributes to its campaign — pure
 * functions, no I/O.
 *
 * Why "contribution": the stored campaign totals are the sum, over the
 * campaign's sends, of each send's contribution. When an event (or the
 * attribution) changes a send, the service computes the send's new
 * contribution from its full state and moves the campaign by the difference
 * to the contribution it stored last time. So the result depends only on the
 * set of events a send has, never on their order, and re-attribution or a late
 * delivery (which reclassifies earlier clicks as scanner clicks) needs no
 * special case.
 */
import { countFields, zeroCounts, type CountField, type Counts } from "./counts.ts";
import { isScannerClick } from "./scanner.ts";

/** One click event as kept on the send. */
export interface ClickRecord {
  /** Click time (click.timestamp, else the event time), epoch ms. */
  t: number;
  link: string;
  /** The user agent matched a scanner pattern when the click arrived. */
  uaScanner: boolean;
}

/** Everything about one send that statistics need. Times are epoch ms; null = not seen. */
export interface SendState {
  campaignId: string | null;
  attributedBy: "record" | "tag" | null;
  recordedSentAt: number | null;
  sentEventAt: number | null;
  deliveredAt: number | null;
  delayedAt: number | null;
  hardBouncedAt: number | null;
  softBouncedAt: number | null;
  complainedAt: number | null;
  failedAt: number | null;
  suppressedAt: number | null;
  /** Time of each email.opened event. */
  opens: number[];
  clicks: ClickRecord[];
}

/** A send no event has touched yet. */
export function emptySendState(): SendState {
  return {
    campaignId: null,
    attributedBy: null,
    recordedSentAt: null,
    sentEventAt: null,
    deliveredAt: null,
    delayedAt: null,
    hardBouncedAt: null,
    softBouncedAt: null,
    complainedAt: null,
    failedAt: null,
    suppressedAt: null,
    opens: [],
    clicks: [],
  };
}

/** What one Resend event says about a send, already classified. */
export type SendFact =
  | { kind: "sent" | "delivered" | "delayed" | "hardBounced" | "softBounced" | "complained" | "failed" | "suppressed" | "opened"; t: number }
  | { kind: "clicked"; t: number; link: string; uaScanner: boolean };

const firstTimeField = {
  sent: "sentEventAt",
  delivered: "deliveredAt",
  delayed: "delayedAt",
  hardBounced: "hardBouncedAt",
  softBounced: "softBouncedAt",
  complained: "complainedAt",
  failed: "failedAt",
  suppressed: "suppressedAt",
} as const;

const earliest = (current: number | null, t: number) => (current === null ? t : Math.min(current, t));

/** The state after one more (distinct) event; `tagCampaignId` attributes an unattributed send. */
export function applyFact(state: SendState, fact: SendFact, tagCampaignId?: string): SendState {
  const next: SendState = { ...state, opens: [...state.opens], clicks: [...state.clicks] };
  if (next.campaignId === null && tagCampaignId) {
    next.campaignId = tagCampaignId;
    next.attributedBy = "tag";
  }
  if (fact.kind === "opened") next.opens.push(fact.t);
  else if (fact.kind === "clicked") next.clicks.push({ t: fact.t, link: fact.link, uaScanner: fact.uaScanner });
  else {
    const field = firstTimeField[fact.kind];
    next[field] = earliest(next[field], fact.t);
  }
  return next;
}

/** The state after SendRecorded: the registration is authoritative over a tag. */
export function applyRecord(state: SendState, campaignId: string, sentAt: number): SendState {
  return { ...state, campaignId, attributedBy: "record", recordedSentAt: sentAt };
}

/** One document a send contributes to, with the amounts. Stored on the send, so arrays, never dotted keys. */
export type ContributionPart =
  | { kind: "campaign"; campaignId: string; inc: Partial<Counts> }
  | { kind: "hour"; campaignId: string; hour: number; inc: Partial<Counts> }
  | {
      kind: "link";
      campaignId: string;
      link: string;
      inc: { clicks?: number; uniqueClicks?: number; scannerClicks?: number };
      firstClickAt?: number;
      lastClickAt?: number;
    };

export const hourMs = 3_600_000;
/** Start of the UTC hour of an instant. */
export const hourOf = (t: number) => Math.floor(t / hourMs) * hourMs;

/** Rules the contribution depends on. */
export interface ContributionRules {
  scannerWindowMs: number;
}

/** What the send adds to its campaign's totals, hours and links (nothing while unattributed). */
export function contributionOf(state: SendState, rules: ContributionRules): ContributionPart[] {
  const campaignId = state.campaignId;
  if (campaignId === null) return [];
  const total = zeroCounts();
  const hours = new Map<number, Counts>();
  const add = (field: CountField, t: number, amount = 1) => {
    total[field] += amount;
    const hour = hourOf(t);
    let counts = hours.get(hour);
    if (!counts) hours.set(hour, (counts = zeroCounts()));
    counts[field] += amount;
  };
  const sentAt = state.recordedSentAt ?? state.sentEventAt;
  const once: [CountField, number | null][] = [
    ["sent", sentAt],
    ["delivered", state.deliveredAt],
    ["deliveryDelayed", state.delayedAt],
    ["hardBounced", state.hardBouncedAt],
    ["softBounced", state.softBouncedAt],
    ["complained", state.complainedAt],
    ["failed", state.failedAt],
    ["suppressed", state.suppressedAt],
  ];
  for (const [field, t] of once) if (t !== null) add(field, t);
  for (const t of state.opens) add("opens", t);
  if (state.opens.length > 0) add("uniqueOpens", Math.min(...state.opens));

  const links = new Map<string, { clicks: number; scannerClicks: number; first: number; last: number }>();
  for (const click of state.clicks) {
    const scanner = isScannerClick(click, state.deliveredAt, rules.scannerWindowMs);
    add("clicks", click.t);
    if (scanner) add("scannerClicks", click.t);
    const link = links.get(click.link) ?? { clicks: 0, scannerClicks: 0, first: click.t, last: click.t };
    link.clicks += 1;
    link.scannerClicks += scanner ? 1 : 0;
    link.first = Math.min(link.first, click.t);
    link.last = Math.max(link.last, click.t);
    links.set(click.link, link);
  }
  if (state.clicks.length > 0) add("uniqueClicks", Math.min(...state.clicks.map((click) => click.t)));

  const parts: ContributionPart[] = [{ kind: "campaign", campaignId, inc: nonZero(total) }];
  for (const [hour, counts] of [...hours].sort((a, b) => a[0] - b[0])) parts.push({ kind: "hour", campaignId, hour, inc: nonZero(counts) });
  for (const [link, value] of [...links].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    parts.push({
      kind: "link",
      campaignId,
      link,
      inc: nonZero({ clicks: value.clicks, uniqueClicks: 1, scannerClicks: value.scannerClicks }),
      firstClickAt: value.first,
      lastClickAt: value.last,
    });
  }
  return parts;
}

function nonZero<T extends Record<string, number>>(counts: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [field, value] of Object.entries(counts)) if (value !== 0) (out as Record<string, number>)[field] = value;
  return out;
}

/** Identity of the document a part goes to (within one workspace). */
export function partKey(part: ContributionPart): string {
  if (part.kind === "campaign") return `c\u0000${part.campaignId}`;
  if (part.kind === "hour") return `h\u0000${part.campaignId}\u0000${part.hour}`;
  return `l\u0000${part.campaignId}\u0000${part.link}`;
}

/**
 * new - old, per document and field, zero entries dropped. Link first/last
 * click times are carried as they are in `next` (they only widen: $min/$max).
 */
export function contributionDelta(old: ContributionPart[], next: ContributionPart[]): ContributionPart[] {
  const byKey = new Map<string, ContributionPart>();
  const amounts = new Map<string, Record<string, number>>();
  const accumulate = (part: ContributionPart, sign: 1 | -1) => {
    const key = partKey(part);
    if (!byKey.has(key) || sign === 1) byKey.set(key, part);
    const sum = amounts.get(key) ?? {};
    for (const [field, value] of Object.entries(part.inc)) sum[field] = (sum[field] ?? 0) + sign * (value ?? 0);
    amounts.set(key, sum);
  };
  for (const part of old) accumulate(part, -1);
  for (const part of next) accumulate(part, 1);
  const delta: ContributionPart[] = [];
  for (const [key, sum] of amounts) {
    const inc = Object.fromEntries(Object.entries(sum).filter(([, value]) => value !== 0));
    const template = byKey.get(key)!;
    const changedTimes =
      template.kind === "link" && next.some((part) => partKey(part) === key) && !sameLinkTimes(old, template);
    if (Object.keys(inc).length === 0 && !changedTimes) continue;
    delta.push({ ...template, inc } as ContributionPart);
  }
  return delta;
}

function sameLinkTimes(old: ContributionPart[], part: ContributionPart & { kind: "link" }): boolean {
  const before = old.find((candidate) => partKey(candidate) === partKey(part));
  return before?.kind === "link" && before.firstClickAt === part.firstClickAt && before.lastClickAt === part.lastClickAt;
}

/** Sum of many contributions per document key: the recount used by tests and `recountCampaign`. */
export function sumContributions(contributions: ContributionPart[][]): Map<string, Record<string, number>> {
  const sums = new Map<string, Record<string, number>>();
  for (const parts of contributions) {
    for (const part of parts) {
      const key = partKey(part);
      const sum = sums.get(key) ?? {};
      for (const [field, value] of Object.entries(part.inc)) sum[field] = (sum[field] ?? 0) + (value ?? 0);
      sums.set(key, sum);
    }
  }
  return sums;
}

export { countFields };
