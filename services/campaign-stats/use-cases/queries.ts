/**
 * Reading statistics: one campaign, many campaigns, links, hourly series.
 * A campaign's totals are one document read by `_id`, whatever its size.
 */
import { InvalidArgumentError } from "../../shared/errors.ts";
import { ratesOf, zeroCounts, type Counts, type RateValues } from "../counts.ts";
import type { MailboxProvider } from "../deliverability/mailbox-provider.ts";
import { providersWithCounts } from "../deliverability/provider-counts.ts";
import { hourMs } from "../send-state.ts";
import type { LinkRecord, StatsRepository } from "../stats-repository.ts";

/** Statistics of one campaign as the API reports them. */
export interface CampaignStatsView {
  workspaceId: string;
  campaignId: string;
  counts: Counts;
  rates: RateValues;
  /** The same per mailbox provider, providers with any count only, in report order. */
  byProvider: { provider: MailboxProvider; counts: Counts; rates: RateValues }[];
  updatedAt: number | null;
}

/** One campaign's statistics; all zero for a campaign never seen. */
export async function getCampaignStats(repo: StatsRepository, workspaceId: string, campaignId: string): Promise<CampaignStatsView> {
  const record = await repo.getCampaign(workspaceId, campaignId);
  const counts = record?.counts ?? zeroCounts();
  const byProvider = providersWithCounts(record?.byProvider ?? {}).map(({ provider, counts }) => ({ provider, counts, rates: ratesOf(counts) }));
  return { workspaceId, campaignId, counts, rates: ratesOf(counts), byProvider, updatedAt: record?.updatedAt ?? null };
}

/** Statistics of many campaigns, in request order. */
export async function batchGetCampaignStats(repo: StatsRepository, workspaceId: string, campaignIds: string[]): Promise<CampaignStatsView[]> {
  const unique = [...new Set(campaignIds)];
  const views = await Promise.all(unique.map((id) => getCampaignStats(repo, workspaceId, id)));
  const byId = new Map(unique.map((id, index) => [id, views[index]!]));
  return campaignIds.map((id) => byId.get(id)!);
}

/** A page of links, ascending; `nextAfter` is the cursor of the next page. */
export async function listLinkClicks(
  repo: StatsRepository,
  workspaceId: string,
  campaignId: string,
  afterLink: string | undefined,
  size: number,
): Promise<{ links: LinkRecord[]; nextAfter: string | undefined }> {
  const links = await repo.listLinks(workspaceId, campaignId, afterLink, size + 1);
  const page = links.slice(0, size);
  return { links: page, nextAfter: links.length > size ? page[page.length - 1]!.link : undefined };
}

/** Maximum range of a time series: 31 days of hours. */
export const maxSeriesHours = 31 * 24;

/** One point per hour of [start rounded down, end rounded up), empty hours included. */
export async function getCampaignTimeSeries(
  repo: StatsRepository,
  workspaceId: string,
  campaignId: string,
  startMs: number,
  endMs: number,
): Promise<{ hour: number; counts: Counts }[]> {
  if (endMs <= startMs) throw new InvalidArgumentError("end_time", "must be after start_time");
  const first = Math.floor(startMs / hourMs) * hourMs;
  const end = Math.ceil(endMs / hourMs) * hourMs;
  const count = (end - first) / hourMs;
  if (count > maxSeriesHours) throw new InvalidArgumentError("end_time", `range longer than 31 days (${count} hours)`);
  const hours = Array.from({ length: count }, (_, index) => first + index * hourMs);
  const found = new Map((await repo.getHours(workspaceId, campaignId, hours)).map((record) => [record.hour, record.counts]));
  return hours.map((hour) => ({ hour, counts: found.get(hour) ?? zeroCounts() }));
}
