/**
 * A campaign's counts per mailbox provider, carried by the same exact deltas as its totals (send-state.ts):
 * a send's stored contribution names its provider on the campaign and day parts, and its deltas hold the
 * counts again under `<provider>:<field>` keys — flat, as a stored part must be (no dotted keys) — so the
 * delta of a send whose provider became known moves its counts from "other" to that provider, and the
 * campaign document applies both in one write (part-fields.ts). The document keeps them as
 * `byProvider: { gmail: { sent, ... }, ... }`: GetCampaignStats stays one read.
 */
import { countFields, countsOf, type Counts } from "../counts.ts";
import { mailboxProviders, type MailboxProvider } from "./mailbox-provider.ts";

/** Counts per provider; a provider without any send is absent. */
export type ProviderCounts = Partial<Record<MailboxProvider, Counts>>;

const separator = ":";

/** The part fields of one send's counts at its provider (zero counts left out). */
export function providerFields(provider: MailboxProvider, counts: Partial<Counts>): Record<string, number> {
  const fields: Record<string, number> = {};
  for (const field of countFields) {
    const value = counts[field] ?? 0;
    if (value !== 0) fields[`${provider}${separator}${field}`] = value;
  }
  return fields;
}

/** `byProvider` after adding the provider fields of a part's `inc` (other fields are ignored). */
export function addProviderFields(byProvider: ProviderCounts, inc: Readonly<Record<string, number | undefined>>): ProviderCounts {
  const next: ProviderCounts = Object.fromEntries(Object.entries(byProvider).map(([provider, counts]) => [provider, { ...counts }]));
  for (const [key, amount] of Object.entries(inc)) {
    const at = key.indexOf(separator);
    if (at < 0 || !amount) continue;
    const provider = key.slice(0, at) as MailboxProvider;
    const field = key.slice(at + 1) as keyof Counts;
    if (!mailboxProviders.includes(provider) || !countFields.includes(field)) continue;
    const counts = (next[provider] ??= countsOf(undefined));
    counts[field] += amount;
  }
  return next;
}

/**
 * `byProvider` as a document keeps it: zero counts left out. The campaign document is read on every
 * GetCampaignStats, and FerretDB decodes every value of it: all sixteen counts of five providers made the
 * read 2.2× slower than without the breakdown (bench/campaign-stats/stats-query.ts).
 */
export function storedProviderCounts(byProvider: ProviderCounts): Record<string, Partial<Counts>> {
  const stored: Record<string, Partial<Counts>> = {};
  for (const [provider, counts] of Object.entries(byProvider)) {
    const nonZero = Object.fromEntries(Object.entries(counts).filter(([, value]) => value !== 0));
    if (Object.keys(nonZero).length > 0) stored[provider] = nonZero;
  }
  return stored;
}

/** The stored `byProvider` of a campaign document, read defensively (absent on documents from before it). */
export function providerCountsOf(stored: unknown): ProviderCounts {
  const out: ProviderCounts = {};
  if (!stored || typeof stored !== "object") return out;
  for (const provider of mailboxProviders) {
    const counts = (stored as Record<string, unknown>)[provider];
    if (counts && typeof counts === "object") out[provider] = countsOf(counts as Record<string, unknown>);
  }
  return out;
}

/** The providers with any count, in report order. */
export function providersWithCounts(byProvider: ProviderCounts): { provider: MailboxProvider; counts: Counts }[] {
  return mailboxProviders.flatMap((provider) => {
    const counts = byProvider[provider];
    return counts && countFields.some((field) => counts[field] !== 0) ? [{ provider, counts }] : [];
  });
}
