/**
 * What a campaign, hour, link or workspace-day document becomes when delta parts reach it — pure, no I/O. The repository
 * reads the document, calls this, and writes the result (stats-repository.ts, mutateMany).
 */
import type { Document } from "mongodb";
import { evaluateAlerts, initialAlertState, type AlertSettings, type AlertState, type PendingAlert } from "./alerts.ts";
import { countFields, countsOf, type Counts } from "./counts.ts";
import { defaultBulkSenderLimits, evaluateLimits, type BulkSenderLimits, type LimitState, type PendingLimitAlert } from "./deliverability/bulk-sender-limits.ts";
import { addProviderFields, providerCountsOf, storedProviderCounts } from "./deliverability/provider-counts.ts";
import type { ContributionPart } from "./send-state.ts";

/** One part of a send's delta, on its way to its campaign, hour or link document. */
export interface PartToApply {
  workspaceId: string;
  /** The delta's reference, `emailId#seq`. */
  ref: string;
  part: ContributionPart;
}

/**
 * The new fields of a campaign, hour or link document after the parts it has not applied yet, or null
 * if it applied them all. Parts of one document all have its kind.
 */
export function fieldsAfterParts(
  doc: Document | null,
  workspaceId: string,
  parts: readonly PartToApply[],
  isDone: (ref: string) => boolean,
  alertSettings: AlertSettings,
  now: number,
  limits: BulkSenderLimits = defaultBulkSenderLimits,
): Document | null {
  const recent = ((doc?.recent as string[] | undefined) ?? []).filter((entry) => !isDone(entry));
  const fresh = parts.filter((entry, index) => !recent.includes(entry.ref) && parts.findIndex((other) => other.ref === entry.ref) === index);
  if (fresh.length === 0) return null;
  const first = fresh[0]!.part;
  const set: Document = { workspaceId, recent: [...recent, ...fresh.map((entry) => entry.ref)], updatedAt: now };
  if (first.kind === "day") {
    // A workspace's day: its counts per provider only (the sends of every campaign), and the bulk-sender
    // limits evaluated on them, their crossings in the outbox of the same write.
    set.day = first.day;
    const byProvider = fresh.reduce((counts, { part }) => addProviderFields(counts, part.inc as Record<string, number | undefined>), providerCountsOf(doc?.byProvider));
    set.byProvider = storedProviderCounts(byProvider);
    const evaluated = evaluateLimits((doc?.limits as LimitState | undefined) ?? {}, byProvider, limits, first.day, now);
    set.limits = evaluated.state;
    set.outbox = [...((doc?.outbox as PendingLimitAlert[] | undefined) ?? []), ...evaluated.fired];
    set.hasOutbox = set.outbox.length > 0;
    return set;
  }
  set.campaignId = first.campaignId;
  if (first.kind === "link") {
    set.link = first.link;
    for (const field of ["clicks", "uniqueClicks", "scannerClicks"] as const) {
      set[field] = fresh.reduce((sum, { part }) => sum + ((part.inc as Record<string, number | undefined>)[field] ?? 0), (doc?.[field] as number | undefined) ?? 0);
    }
    let firstClickAt = doc?.firstClickAt as number | null | undefined;
    let lastClickAt = doc?.lastClickAt as number | null | undefined;
    for (const { part } of fresh) {
      if (part.kind !== "link") continue;
      firstClickAt = minOf(firstClickAt, part.firstClickAt);
      lastClickAt = maxOf(lastClickAt, part.lastClickAt);
    }
    set.firstClickAt = firstClickAt ?? null;
    set.lastClickAt = lastClickAt ?? null;
    return set;
  }
  const counts = countsOf(doc);
  for (const { part } of fresh) for (const field of countFields) counts[field] += (part.inc as Partial<Counts>)[field] ?? 0;
  Object.assign(set, counts);
  if (first.kind === "hour") {
    set.hour = first.hour;
    return set;
  }
  let byProvider = providerCountsOf(doc?.byProvider);
  for (const { part } of fresh) byProvider = addProviderFields(byProvider, part.inc as Record<string, number | undefined>);
  set.byProvider = storedProviderCounts(byProvider);
  const evaluated = evaluateAlerts((doc?.alerts as AlertState | undefined) ?? initialAlertState(), counts, alertSettings, now);
  set.alerts = evaluated.state;
  set.outbox = [...((doc?.outbox as PendingAlert[] | undefined) ?? []), ...evaluated.fired];
  set.hasOutbox = set.outbox.length > 0;
  return set;
}

const minOf = (a: number | null | undefined, b: number | undefined) =>
  a == null ? (b ?? null) : b === undefined ? a : Math.min(a, b);
const maxOf = (a: number | null | undefined, b: number | undefined) =>
  a == null ? (b ?? null) : b === undefined ? a : Math.max(a, b);
