/**
 * The count fields of campaign statistics, shared by the campaign totals, the
 * hourly buckets and the send contributions, and the rates derived from them
 * (DESIGN.md "Exact statistics").
 */

/** Every count a campaign (or one of its hours) has, in proto order. */
export const countFields = [
  "sent",
  "delivered",
  "deliveryDelayed",
  "hardBounced",
  "softBounced",
  "complained",
  "failed",
  "suppressed",
  "opens",
  "uniqueOpens",
  "clicks",
  "uniqueClicks",
  "scannerClicks",
  "unsubscribed",
  "humanUniqueClicks",
  "machineOpens",
] as const;

export type CountField = (typeof countFields)[number];
export type Counts = Record<CountField, number>;

/** All counts zero. */
export function zeroCounts(): Counts {
  return Object.fromEntries(countFields.map((field) => [field, 0])) as Counts;
}

/** Reads the counts stored on a document; missing fields are zero. */
export function countsOf(doc: Partial<Record<string, unknown>> | null | undefined): Counts {
  const counts = zeroCounts();
  for (const field of countFields) {
    const value = doc?.[field];
    if (typeof value === "number") counts[field] = value;
  }
  return counts;
}

/** Rates as fractions 0..1; a rate whose denominator is 0 is 0. */
export interface RateValues {
  deliveryRate: number;
  openRate: number;
  clickRate: number;
  clickToOpenRate: number;
  bounceRate: number;
  softBounceRate: number;
  complaintRate: number;
  unsubscribeRate: number;
  humanClickRate: number;
}

const ratio = (numerator: number, denominator: number) => (denominator > 0 ? numerator / denominator : 0);

/**
 * The rates of DESIGN.md: delivery = delivered/sent, open = unique opens/delivered,
 * click = unique clicks/delivered, click-to-open = unique clicks/unique opens,
 * bounce = hard-bounced/sent (soft apart), complaint = complained/delivered, and
 * unsubscribe = unsubscribed/delivered (campaign_stats.proto; like complaints, per email that reached an inbox),
 * and human click = human unique clicks/delivered.
 */
export function ratesOf(counts: Counts): RateValues {
  return {
    deliveryRate: ratio(counts.delivered, counts.sent),
    openRate: ratio(counts.uniqueOpens, counts.delivered),
    clickRate: ratio(counts.uniqueClicks, counts.delivered),
    clickToOpenRate: ratio(counts.uniqueClicks, counts.uniqueOpens),
    bounceRate: ratio(counts.hardBounced, counts.sent),
    softBounceRate: ratio(counts.softBounced, counts.sent),
    complaintRate: ratio(counts.complained, counts.delivered),
    unsubscribeRate: ratio(counts.unsubscribed, counts.delivered),
    humanClickRate: ratio(counts.humanUniqueClicks, counts.delivered),
  };
}
