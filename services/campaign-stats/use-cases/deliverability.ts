/**
 * A workspace's sending numbers per UTC day and mailbox provider (GetWorkspaceDeliverability): the daily
 * complaint and bounce rates the bulk-sender rules of Gmail, Yahoo and Microsoft judge a sender by, per
 * provider — one can block a sender while another does not. The counts are exact deltas like every other
 * number (send-state.ts, "day" parts); this reads at most 90 day documents by `_id`.
 */
import { InvalidArgumentError } from "../../shared/errors.ts";
import type { Counts } from "../counts.ts";
import type { MailboxProvider } from "../deliverability/mailbox-provider.ts";
import { providersWithCounts } from "../deliverability/provider-counts.ts";
import { dayMs } from "../send-state.ts";
import type { StatsRepository } from "../stats-repository.ts";

/** Longest range one call reports. */
export const maxDeliverabilityDays = 90;

export interface ProviderDay {
  provider: MailboxProvider;
  counts: Counts;
  /** complained / delivered of the day. */
  complaintRate: number;
  /** hard-bounced / sent of the day. */
  bounceRate: number;
}

/** Every day of [start's day, end rounded up to a day), each with the providers that have counts. */
export async function getWorkspaceDeliverability(
  repo: StatsRepository,
  workspaceId: string,
  startMs: number,
  endMs: number,
): Promise<{ day: number; providers: ProviderDay[] }[]> {
  if (endMs <= startMs) throw new InvalidArgumentError("end_time", "must be after start_time");
  const first = Math.floor(startMs / dayMs) * dayMs;
  const count = (Math.ceil(endMs / dayMs) * dayMs - first) / dayMs;
  if (count > maxDeliverabilityDays) throw new InvalidArgumentError("end_time", `range longer than ${maxDeliverabilityDays} days (${count} days)`);
  const days = Array.from({ length: count }, (_, index) => first + index * dayMs);
  const stored = await repo.getDays(workspaceId, days);
  return days.map((day) => ({
    day,
    providers: providersWithCounts(stored.get(day) ?? {}).map(({ provider, counts }) => ({
      provider,
      counts,
      complaintRate: counts.delivered > 0 ? counts.complained / counts.delivered : 0,
      bounceRate: counts.sent > 0 ? counts.hardBounced / counts.sent : 0,
    })),
  }));
}
